--[[
Vigil online features: record a batch of known labels (fraud or legit) for label-aware features.

One call, atomic in Redis, for a whole batch. Works on Redis 6.2 and 7.x (EVALSHA, cmsgpack; no
Redis Functions, no HEXPIRE). Key format and state layouts: docs/features.md section 7.
features/online_plan.py prepends the plan as

  local PLAN = {record ttl ms, {per label entity, in plan order: {mode (1 exact, 2 bucketed),
                resolutions (bucketed), state keep ms, label keep ms}}}

KEYS  1..n   the label record of each label's transaction, in batch order
      n+1..  entity state keys (each once; the same keys record_and_compute.lua uses),
             referenced by index from ARGV[1]
ARGV  1      batch (MessagePack, one flat array): per label its known-at ms, 1 (fraud) or 0
             (legit), the transaction's event ms, then per label entity the index of its state
             key (0 when the label names no value)

A transaction's label record is its label history: MessagePack {known ms, fraud, known ms, ...},
ascending by known ms (at most MAX_HISTORY events, the latest). The current label is the one known
last; of two known at the same instant the one recorded later wins. While the current label is
fraud, the transaction is one entry (event ms, since ms) in the state of each of its entity
values, `since` being the known ms of the first label of the run of fraud labels that ends with
the current one (a fraud verdict confirmed later counts from the first verdict). Recording a label
event that is already in the history changes nothing, so a batch can be sent again.

The entries live in the entity value's state (docs/features.md section 7): its header gets a
third number, lnewest (the latest event ms of a fraud it has held), and a last MessagePack object
follows, {per entry: lnewest - event ms, since - event ms}, ascending by event ms, then since.
The other parts are written back as they were. Entries at or before lnewest - label keep are
dropped; without entries the header loses its third number and the last object goes; a state left
with neither events nor entries is deleted. A state that did not exist is created empty (its
newest ms: the fraud's event ms).

Reply: the number of labels that changed their transaction's label history.
]]

local mp_pack, mp_unpack = cmsgpack.pack, cmsgpack.unpack

local EXACT = 1
local MAX_HISTORY = 16

local record_ttl, entities = PLAN[1], PLAN[2]
local entity_count = #entities
local batch = mp_unpack(ARGV[1])
local stride = 3 + entity_count

-- The known ms from which the current label has been fraud without interruption, or nil.
local function fraud_since(h)
  local n = #h
  if n == 0 or h[n] ~= 1 then return nil end
  local since, b = h[n - 1], n - 3
  while b >= 1 and h[b + 1] == 1 do
    since = h[b]
    b = b - 2
  end
  return since
end

-- Adds the event (k, v) to the history h; whether h changed.
local function insert(h, k, v)
  local n = #h
  local b = n - 1
  while b >= 1 and h[b] > k do b = b - 2 end
  if b >= 1 and h[b] == k then
    if h[b + 1] == v then return false end
    h[b + 1] = v
    return true
  end
  local at = b + 2
  for q = n, at, -1 do h[q + 2] = h[q] end
  h[at], h[at + 1] = k, v
  if #h > 2 * MAX_HISTORY then
    table.remove(h, 1)
    table.remove(h, 1)
  end
  return true
end

local function load_state(raw, lp)
  local parts
  if raw then
    parts = {mp_unpack(raw)}
  elseif lp[1] == EXACT then
    parts = {{EXACT}, {}, {}}
  else
    parts = {{lp[1]}}
    for r = 1, lp[2] do parts[1 + r] = {} end
  end
  local head, ev, n, lnewest = parts[1], {}, 0, nil
  if head[3] then
    lnewest = head[3]
    ev = table.remove(parts)
    for b = 1, #ev, 2 do
      local e = lnewest - ev[b]
      ev[b], ev[b + 1] = e, e + ev[b + 1]
    end
    n = #ev / 2
  end
  return {parts = parts, newest = lnewest, ev = ev, n = n}
end

local function add_entry(st, e, k)
  local ev, n = st.ev, st.n
  local p = n
  while p >= 1 and (ev[2 * p - 1] > e or (ev[2 * p - 1] == e and ev[2 * p] > k)) do p = p - 1 end
  for q = 2 * n, 2 * p + 1, -1 do ev[q + 2] = ev[q] end
  ev[2 * p + 1], ev[2 * p + 2] = e, k
  st.n = n + 1
  if not st.newest or e > st.newest then st.newest = e end
end

local function remove_entry(st, e, k)
  local ev, n = st.ev, st.n
  for p = n, 1, -1 do
    if ev[2 * p - 1] == e and ev[2 * p] == k then
      for q = 2 * p - 1, 2 * n - 2 do ev[q] = ev[q + 2] end
      ev[2 * n - 1], ev[2 * n] = nil, nil
      st.n = n - 1
      return
    end
  end
end

-- The value to store and its expiry, or nil when the state holds nothing any more.
local function save_state(st, lp)
  local parts, ev = st.parts, st.ev
  local head = parts[1]
  local out, o = {}, 0
  if st.n > 0 then
    local newest = st.newest
    local cutoff = newest - lp[4]
    for b = 1, 2 * st.n, 2 do
      local e = ev[b]
      if e > cutoff then
        out[o + 1], out[o + 2] = newest - e, ev[b + 1] - e
        o = o + 2
      end
    end
    if head[2] == nil then head[2] = newest end
  end
  if o > 0 then
    head[3] = st.newest
    parts[#parts + 1] = out
    return mp_pack(unpack(parts)), math.max(lp[3], lp[4])
  end
  head[3] = nil
  for r = 2, #parts do
    if #parts[r] > 0 and (head[1] ~= EXACT or r == 3) then return mp_pack(unpack(parts)), lp[3] end
  end
  return nil
end

local records = {} -- record key -> history, for repeated transactions within the batch
local states, dirty, dirty_order = {}, {}, {}
local changed = 0

for i = 1, #batch / stride do
  local off = (i - 1) * stride
  local k, v, e = batch[off + 1], batch[off + 2], batch[off + 3]
  local key = KEYS[i]
  local h = records[key]
  if h == nil then
    local raw = redis.call('GET', key)
    h = raw and mp_unpack(raw) or {}
    records[key] = h
  end
  local before = fraud_since(h)
  if insert(h, k, v) then
    changed = changed + 1
    redis.call('SET', key, mp_pack(h), 'PX', record_ttl)
    local after = fraud_since(h)
    if after ~= before then
      for x = 1, entity_count do
        local key_index = batch[off + 3 + x]
        if key_index ~= 0 then
          local st = states[key_index]
          if st == nil then
            st = load_state(redis.call('GET', KEYS[key_index]), entities[x])
            states[key_index] = st
          end
          if before then remove_entry(st, e, before) end
          if after then add_entry(st, e, after) end
          if not dirty[key_index] then
            dirty[key_index] = entities[x]
            dirty_order[#dirty_order + 1] = key_index
          end
        end
      end
    end
  end
end

for di = 1, #dirty_order do
  local key_index = dirty_order[di]
  local value, keep = save_state(states[key_index], dirty[key_index])
  if value then
    redis.call('SET', KEYS[key_index], value, 'PX', keep)
  else
    redis.call('DEL', KEYS[key_index])
  end
end

return changed
