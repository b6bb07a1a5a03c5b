"""The analysts' web app (NiceGUI): live alerts, investigations, rules, models, scaling."""
