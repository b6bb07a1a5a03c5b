--[[
Vigil online features: record a batch of transactions and return their window integers.

One call, atomic in Redis, for a whole batch. Works on Redis 6.2 and 7.x (EVALSHA; cmsgpack is
built into both; no Redis Functions, no HEXPIRE). Key format and state layouts: docs/features.md
section 7. features/online_plan.py builds the plan and prepends it to this file as

  local PLAN = {plan id, idempotency ttl ms, slot count, entities, label plans}
    exact entity:    {1, keep ms, of count, groups}
      group:         {lag ms, needs zscore (0/1), of positions, windows (ascending)}
      window:        {window ms, then per feature: stat code, of position, slot}
    bucketed entity: {2, keep ms, needs sum (0/1), needs max (0/1), resolutions}
      resolution:    {bucket ms, keep ms, {per feature: lag ms, window ms, stat code, slot}}
    label plan:      {} (no label-aware spec), or per entity {label keep ms, {per feature:
                     lag ms, window ms, label delay ms, slot, bucket ms}, keeps history (0/1)}

so that the plan costs nothing to decode (its SHA changes with the feature set).

KEYS  1..n   the idempotency key of each transaction, in batch order
      n+1..  entity state keys (each once), referenced by index from ARGV[2]
ARGV  1      "1" records the transactions, "0" only computes
      2      batch (MessagePack, one flat array): per transaction event ms, units, cents, then
             per plan entity its state key index (0 when the entity value is null) followed by
             its of values (false when null)
      3      the payload digests (core/payload.py), 8 bytes per transaction, concatenated
             (raw bytes: cmsgpack in Redis 6.2 and 7 cannot unpack MessagePack bin values)

Rows are processed in event-time order (ties in batch order), whatever their order in the batch:
the rows of one call arrive together, and offline the earlier event comes first.

Reply: per transaction, in batch order, one MessagePack array of integers {plan id, event ms,
units, slots...}, or the integer 0 (CONFLICT) when its id is already recorded with another
payload digest. The idempotency record of a transaction is its digest as a MessagePack bin 8
followed by its reply row. A transaction whose record exists gets that row back (same digest)
or CONFLICT, and changes nothing.

Known labels live in the state value too: when its header has a third number (the latest event
ms of a known fraud), a last MessagePack object follows with the entity value's transactions known
to be fraud, {per fraud: that ms - event ms, known ms - event ms}, ascending by event ms.
record_labels.lua writes that part; this script only reads it and writes it back unchanged. A
label-aware feature counts the frauds with event ms in its window (t - lag - window, t - lag]
(whole buckets of the transaction state for fraud_share on a bucketed entity) and known ms <=
t - label delay. fraud_share's second slot, the previous rows' count, comes from the transaction
state (PREV_COUNT). An entity whose only specs are fraud_count records no transactions.

Numbers are Lua doubles, exact for integers below 2^53. Sums are kept in limbs so that they never
round: amounts as low + high * 2^48, squared cents as l0 + l1 * 2^24 + l2 * 2^48. Python joins the
limbs and applies the floating-point formulas (features/formulas.py).
]]

local mp_pack, mp_unpack = cmsgpack.pack, cmsgpack.unpack
local floor = math.floor

local EXACT, BUCKETED = 1, 2
local COUNT, SUM, MEAN, MAX, DISTINCT, FIRST_SEEN, SINCE, ZSCORE = 1, 2, 3, 4, 5, 6, 7, 8
local PREV_COUNT = 9 -- the window's previous rows (without the transaction itself)
local MISSING = -1
local UNSEEN = -1 -- id of an of value this entity has not recorded
local SUM_LIMB = 2 ^ 48
local SQUARE_LIMB = 2 ^ 24
local SQUARE_CARRY_AT = 2 ^ 50
local HEADER = 3
local DIGEST_HEAD = '\196\8' -- MessagePack bin 8 header: the record starts with the digest
local DIGEST_TAG = 196
local ROW_AT = 11 -- the row follows the 2-byte header and the 8-byte digest
local CONFLICT = 0

local plan_id, idempotency_ttl, slot_count, entity_plans = PLAN[1], PLAN[2], PLAN[3], PLAN[4]
local label_plans = PLAN[5]
local entity_count = #entity_plans
local recording = ARGV[1] == '1'
local batch = mp_unpack(ARGV[2])
local digests = ARGV[3]
local txn_stride = 3
for e = 1, entity_count do
  local ep = entity_plans[e]
  txn_stride = txn_stride + 1 + (ep[1] == EXACT and ep[3] or 0)
end

-- ---------------------------------------------------------------- exact state
-- value: MessagePack {1, newest ms[, label newest ms]} {values...}
--        {per event: newest - t, units, of ids...}[ {known frauds}]
-- in memory: {newest, values, index (value -> id, when many), ev = flat events (absolute t), n,
--             stride, labels (as stored, or nil), lnewest}
-- events are in arrival order by event time: ascending t, ties in arrival order; id 0 = null.

local function load_exact(raw, of_count)
  local stride = 2 + of_count
  if not raw then
    return {newest = nil, values = {}, index = nil, ev = {}, n = 0, stride = stride}
  end
  local head, values, ev, labels = mp_unpack(raw)
  if head[1] ~= EXACT then error('vigil: state is not an exact-state value') end
  local newest = head[2]
  local len = #ev
  for b = 1, len, stride do ev[b] = newest - ev[b] end
  return {newest = newest, values = values, index = nil, ev = ev, n = len / stride,
          stride = stride, labels = head[3] and labels or nil, lnewest = head[3]}
end

-- The id of value v, or nil. A few values are searched in place; many get an index, built once.
local function value_id(st, v)
  local values, index = st.values, st.index
  if index then return index[v] end
  local count = #values
  if count <= 16 then
    for i = 1, count do
      if values[i] == v then return i end
    end
    return nil
  end
  index = {}
  for i = 1, count do index[values[i]] = i end
  st.index = index
  return index[v]
end

local function own_ids(st, off, of_count, assign)
  local ids, values = {}, st.values
  for f = 1, of_count do
    local v = batch[off + f]
    if not v then
      ids[f] = 0
    else
      local id = value_id(st, v)
      if not id then
        if assign then
          id = #values + 1
          values[id] = v
          if st.index then st.index[v] = id end
        else
          id = UNSEEN
        end
      end
      ids[f] = id
    end
  end
  return ids
end

local function compute_exact(st, ep, t, u, c, own, res)
  local ev, s = st.ev, st.stride
  local groups = ep[4]
  for gi = 1, #groups do
    local g = groups[gi]
    local lag, needs_z, positions, windows = g[1], g[2] == 1, g[3], g[4]
    local position_count = #positions
    local hi = t - lag
    local self_in = lag == 0 -- (t - lag - w, t - lag] holds t exactly when lag is 0
    local b = st.n * s - s + 1 -- newest event's first slot
    while b >= 1 and ev[b] > hi do b = b - s end
    local last = b >= 1 and ev[b] or nil
    local cnt, s_lo, s_hi, mx = 0, 0, 0, MISSING
    local zn, z_lo, z_hi, q0, q1, q2 = 0, 0, 0, 0, 0, 0
    local sets, distinct = {}, {}
    for pi = 1, position_count do
      sets[positions[pi]] = {}
      distinct[positions[pi]] = 0
    end
    for wi = 1, #windows do
      local window = windows[wi]
      local lo = hi - window[1]
      while b >= 1 and ev[b] > lo do
        local uj = ev[b + 1]
        cnt = cnt + 1
        s_lo = s_lo + uj
        if s_lo >= SUM_LIMB then s_lo, s_hi = s_lo - SUM_LIMB, s_hi + 1 end
        if uj > mx then mx = uj end
        for pi = 1, position_count do
          local f = positions[pi]
          local id = ev[b + 1 + f]
          local set = sets[f]
          if id ~= 0 and not set[id] then
            set[id] = true
            distinct[f] = distinct[f] + 1
          end
        end
        if needs_z then
          local cj = floor((uj + 50) / 100)
          zn = zn + 1
          z_lo = z_lo + cj
          if z_lo >= SUM_LIMB then z_lo, z_hi = z_lo - SUM_LIMB, z_hi + 1 end
          if cj < SQUARE_LIMB then
            q0 = q0 + cj * cj
          else
            local a = floor(cj / SQUARE_LIMB)
            local r = cj - a * SQUARE_LIMB
            q0, q1, q2 = q0 + r * r, q1 + 2 * a * r, q2 + a * a
          end
          if q0 >= SQUARE_CARRY_AT then
            local k = floor(q0 / SQUARE_LIMB)
            q0, q1 = q0 - k * SQUARE_LIMB, q1 + k
          end
          if q1 >= SQUARE_CARRY_AT then
            local k = floor(q1 / SQUARE_LIMB)
            q1, q2 = q1 - k * SQUARE_LIMB, q2 + k
          end
        end
        b = b - s
      end
      for o = 2, #window, 3 do
        local stat, f, at = window[o], window[o + 1], HEADER + window[o + 2]
        if stat == COUNT then
          res[at] = self_in and cnt + 1 or cnt
        elseif stat == SUM or stat == MEAN then
          local low, high = s_lo, s_hi
          if self_in then
            low = low + u
            if low >= SUM_LIMB then low, high = low - SUM_LIMB, high + 1 end
          end
          res[at], res[at + 1] = low, high
          if stat == MEAN then res[at + 2] = self_in and cnt + 1 or cnt end
        elseif stat == MAX then
          res[at] = (self_in and u > mx) and u or mx
        elseif stat == DISTINCT then
          local id = own[f]
          local new = self_in and id ~= 0 and (id == UNSEEN or not sets[f][id])
          res[at] = new and distinct[f] + 1 or distinct[f]
        elseif stat == FIRST_SEEN then
          local id = own[f]
          if id == 0 then
            res[at] = MISSING
          else
            res[at] = (id ~= UNSEEN and sets[f][id]) and 0 or 1
          end
        elseif stat == PREV_COUNT then
          res[at] = cnt
        elseif stat == SINCE then
          res[at] = (last and last > lo) and t - last or MISSING
        elseif stat == ZSCORE then
          res[at], res[at + 1], res[at + 2] = zn, z_lo, z_hi
          res[at + 3], res[at + 4], res[at + 5], res[at + 6] = q0, q1, q2, c
        end
      end
    end
  end
end

local function record_exact(st, t, u, ids)
  local ev, n, s = st.ev, st.n, st.stride
  local p = n
  while p >= 1 and ev[(p - 1) * s + 1] > t do p = p - 1 end
  if p < n then -- a late arrival: move the later events up by one record
    for q = n * s, p * s + 1, -1 do ev[q + s] = ev[q] end
  end
  local b = p * s
  ev[b + 1], ev[b + 2] = t, u
  for f = 1, s - 2 do ev[b + 2 + f] = ids[f] end
  st.n = n + 1
  if not st.newest or t > st.newest then st.newest = t end
end

-- Drops events at or before newest - keep (and the values only they used); nil when neither an
-- event nor a known fraud is left.
local function save_exact(st, keep)
  local ev, n, s, newest, values = st.ev, st.n, st.stride, st.newest, st.values
  local cutoff = newest - keep
  local first = 1
  while first <= n and ev[(first - 1) * s + 1] <= cutoff do first = first + 1 end
  if first > n then
    if not st.labels then return nil end
    return mp_pack({EXACT, newest, st.lnewest}, {}, {}, st.labels)
  end
  if first > 1 then
    local drop, len = (first - 1) * s, n * s
    for q = 1, len - drop do ev[q] = ev[q + drop] end
    for q = len - drop + 1, len do ev[q] = nil end
    n = n - first + 1
    local remap, kept = {}, {}
    for b = 1, n * s, s do
      for q = b + 2, b + s - 1 do
        local id = ev[q]
        if id ~= 0 then
          local new = remap[id]
          if not new then
            new = #kept + 1
            kept[new] = values[id]
            remap[id] = new
          end
          ev[q] = new
        end
      end
    end
    values = kept
  end
  for b = 1, n * s, s do ev[b] = newest - ev[b] end
  if st.labels then return mp_pack({EXACT, newest, st.lnewest}, values, ev, st.labels) end
  return mp_pack({EXACT, newest}, values, ev)
end

-- ---------------------------------------------------------------- bucketed state
-- value: MessagePack {2, newest ms[, label newest ms]} then per resolution {per bucket: index,
--        count, [sum low, sum high], [max]}; bucket index = floor(t / bucket ms), ascending;
--        then the known frauds when the header says so.

local function bucket_width(ep)
  return 2 + (ep[3] == 1 and 2 or 0) + (ep[4] == 1 and 1 or 0)
end

local function load_bucketed(raw, ep)
  local resolutions = ep[5]
  local st = {newest = nil, res = {}, width = bucket_width(ep)}
  if not raw then
    for r = 1, #resolutions do st.res[r] = {} end
    return st
  end
  local parts = {mp_unpack(raw)}
  local head = parts[1]
  if head[1] ~= BUCKETED then error('vigil: state is not a bucketed-state value') end
  st.newest = head[2]
  for r = 1, #resolutions do st.res[r] = parts[1 + r] end
  if head[3] then st.labels, st.lnewest = parts[2 + #resolutions], head[3] end
  return st
end

local function compute_bucketed(st, ep, t, u, res)
  local resolutions, w = ep[5], st.width
  local has_sum, max_at = ep[3] == 1, ep[3] == 1 and 5 or 3
  for r = 1, #resolutions do
    local size, specs, b = resolutions[r][1], resolutions[r][3], st.res[r]
    local newest_bucket = #b - w + 1
    for si = 1, #specs, 4 do
      local lag, stat, at = specs[si], specs[si + 2], HEADER + specs[si + 3]
      local hi = t - lag
      local k_lo, k_hi = floor((hi - specs[si + 1]) / size), floor(hi / size)
      local cnt, s_lo, s_hi, mx = 0, 0, 0, MISSING
      for o = newest_bucket, 1, -w do
        local k = b[o]
        if k <= k_lo then break end
        if k <= k_hi then
          cnt = cnt + b[o + 1]
          if has_sum then
            s_lo, s_hi = s_lo + b[o + 2], s_hi + b[o + 3]
            if s_lo >= SUM_LIMB then s_lo, s_hi = s_lo - SUM_LIMB, s_hi + 1 end
          end
          if stat == MAX and b[o + max_at - 1] > mx then mx = b[o + max_at - 1] end
        end
      end
      if lag == 0 and stat ~= PREV_COUNT then
        cnt = cnt + 1
        if has_sum then
          s_lo = s_lo + u
          if s_lo >= SUM_LIMB then s_lo, s_hi = s_lo - SUM_LIMB, s_hi + 1 end
        end
        if u > mx then mx = u end
      end
      if stat == COUNT or stat == PREV_COUNT then
        res[at] = cnt
      elseif stat == SUM or stat == MEAN then
        res[at], res[at + 1] = s_lo, s_hi
        if stat == MEAN then res[at + 2] = cnt end
      elseif stat == MAX then
        res[at] = mx
      end
    end
  end
end

local function record_bucketed(st, ep, t, u)
  local resolutions, w = ep[5], st.width
  local has_sum, has_max, max_at = ep[3] == 1, ep[4] == 1, ep[3] == 1 and 5 or 3
  for r = 1, #resolutions do
    local k = floor(t / resolutions[r][1])
    local b = st.res[r]
    local len = #b
    local o = len - w + 1
    while o >= 1 and b[o] > k do o = o - w end
    if o < 1 or b[o] ~= k then -- a new bucket after the one at o
      for q = len, o + w, -1 do b[q + w] = b[q] end
      o = o + w
      b[o], b[o + 1] = k, 0
      if has_sum then b[o + 2], b[o + 3] = 0, 0 end
      if has_max then b[o + max_at - 1] = 0 end
    end
    b[o + 1] = b[o + 1] + 1
    if has_sum then
      local low = b[o + 2] + u
      if low >= SUM_LIMB then low, b[o + 3] = low - SUM_LIMB, b[o + 3] + 1 end
      b[o + 2] = low
    end
    if has_max and u > b[o + max_at - 1] then b[o + max_at - 1] = u end
  end
  if not st.newest or t > st.newest then st.newest = t end
end

local function save_bucketed(st, ep)
  local resolutions, w = ep[5], st.width
  local parts, kept = {{BUCKETED, st.newest, st.lnewest}}, 0
  for r = 1, #resolutions do
    local size, keep = resolutions[r][1], resolutions[r][2]
    local first_k = floor((st.newest - keep) / size)
    local b = st.res[r]
    local len, drop = #b, 0
    while drop < len and b[drop + 1] < first_k do drop = drop + w end
    if drop > 0 then
      for q = 1, len - drop do b[q] = b[q + drop] end
      for q = len - drop + 1, len do b[q] = nil end
    end
    kept = kept + len - drop
    parts[1 + r] = b
  end
  if st.labels then
    parts[#parts + 1] = st.labels
  elseif kept == 0 then
    return nil
  end
  return mp_pack(unpack(parts))
end

-- ---------------------------------------------------------------- known frauds
-- st.labels: {per fraud: lnewest - event ms, known ms - event ms}, ascending by event ms (as
-- stored); read in place, from the newest entry back.

local function compute_labels(st, specs, t, res)
  local labels, lnewest = st.labels, st.lnewest
  local last = labels and #labels - 1 or -1
  for si = 1, #specs, 5 do
    local hi = t - specs[si]
    local lo, by, at, bucket = hi - specs[si + 1], t - specs[si + 2], HEADER + specs[si + 3],
      specs[si + 4]
    if bucket > 0 then -- floor(lo / b) < floor(e / b) <= floor(hi / b), for integer e
      lo = (floor(lo / bucket) + 1) * bucket - 1
      hi = (floor(hi / bucket) + 1) * bucket - 1
    end
    local cnt, b = 0, last
    while b >= 1 and lnewest - labels[b] > hi do b = b - 2 end
    while b >= 1 do
      local e = lnewest - labels[b]
      if e <= lo then break end
      if e + labels[b + 1] <= by then cnt = cnt + 1 end
      b = b - 2
    end
    res[at] = cnt
  end
end

-- ---------------------------------------------------------------- the batch

local states = {} -- key index -> state in memory
local dirty, dirty_order = {}, {} -- key index -> entity index; write-back order (deterministic)
local recorded = {} -- idempotency key -> record, for repeated ids within the batch
local replies = {}

-- Event-time order, ties in batch order (a comparison on (t, position) sorts stably).
local txn_count = #batch / txn_stride
local order, in_order = {}, true
for i = 1, txn_count do
  order[i] = i
  if i > 1 and batch[(i - 1) * txn_stride + 1] < batch[(i - 2) * txn_stride + 1] then
    in_order = false
  end
end
if not in_order then
  table.sort(order, function(a, b)
    local ta, tb = batch[(a - 1) * txn_stride + 1], batch[(b - 1) * txn_stride + 1]
    if ta ~= tb then return ta < tb end
    return a < b
  end)
end

for oi = 1, txn_count do
  local i = order[oi]
  local txn_key = KEYS[i]
  local off = (i - 1) * txn_stride
  local digest = string.sub(digests, i * 8 - 7, i * 8)
  local prior = recorded[txn_key] or redis.call('GET', txn_key)
  if prior then
    if string.byte(prior, 1) ~= DIGEST_TAG then
      replies[i] = prior -- recorded before records kept a digest: nothing to compare
    elseif string.sub(prior, 3, ROW_AT - 1) == digest then
      replies[i] = string.sub(prior, ROW_AT)
    else
      replies[i] = CONFLICT
    end
  else
    local t, u, c = batch[off + 1], batch[off + 2], batch[off + 3]
    local res = {plan_id, t, u}
    for slot = HEADER + 1, HEADER + slot_count do res[slot] = MISSING end
    off = off + 3
    for e = 1, entity_count do
      local ep = entity_plans[e]
      local key_index = batch[off + 1]
      local exact = ep[1] == EXACT
      if key_index ~= 0 then
        local st = states[key_index]
        if st == nil then
          local raw = redis.call('GET', KEYS[key_index])
          if exact then st = load_exact(raw, ep[3]) else st = load_bucketed(raw, ep) end
          states[key_index] = st
        end
        local lp = label_plans[e]
        if #lp == 0 or lp[3] == 1 then -- the entity keeps its transactions
          if exact then
            local ids = own_ids(st, off + 1, ep[3], recording)
            compute_exact(st, ep, t, u, c, ids, res)
            if recording then record_exact(st, t, u, ids) end
          else
            compute_bucketed(st, ep, t, u, res)
            if recording then record_bucketed(st, ep, t, u) end
          end
          if recording and not dirty[key_index] then
            dirty[key_index] = e
            dirty_order[#dirty_order + 1] = key_index
          end
        end
        if #lp > 0 then compute_labels(st, lp[2], t, res) end
      end
      off = off + 1 + (exact and ep[3] or 0)
    end
    local row = mp_pack(res)
    if recording then
      local record = DIGEST_HEAD .. digest .. row
      recorded[txn_key] = record
      redis.call('SET', txn_key, record, 'PX', idempotency_ttl)
    end
    replies[i] = row
  end
end

for di = 1, #dirty_order do
  local key_index = dirty_order[di]
  local e = dirty[key_index]
  local ep, st = entity_plans[e], states[key_index]
  local value
  if ep[1] == EXACT then
    value = save_exact(st, ep[2])
  else
    value = save_bucketed(st, ep)
  end
  if value then
    local keep = ep[2]
    if st.labels and label_plans[e][1] > keep then keep = label_plans[e][1] end
    redis.call('SET', KEYS[key_index], value, 'PX', keep)
  else
    redis.call('DEL', KEYS[key_index])
  end
end

return replies
