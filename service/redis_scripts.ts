/**
 * The Lua scripts of the Redis queue (service/redis_queue.ts): every change of a job record is
 * one script, so a status change, its index entries, its event and the live publication happen
 * together or not at all (Redis runs a script atomically), whichever host sends it.
 *
 * Keys, all under the queue's prefix `P` = `dipline:q:<queue>:`:
 * - `P job:<id>` (hash): the record — id, seq, data, status, attemptsMade, attempts, backoff,
 *   progress, result, error, cancelRequested, stalls, createdAt, runAt, startedAt, finishedAt,
 *   token (the lock token of the attempt running now), worker, batch.
 * - `P index` and `P status:<status>` (sorted sets, score = seq): every job, and per status,
 *   so listing newest first and counting need no scan.
 * - `P events:<id>` (sorted set, score = event id): the job's stored events, as JSON.
 * - `P seq`, `P eventseq`: counters; event ids increase across the queue.
 * - `P batch:<id>` (hash): a batch's total and its finished counts.
 * - channel `P live`: every event, as `<origin>|<json>`, so a process skips its own.
 *
 * A transition that depends on who runs the job (finish, emit, progress) carries the lock
 * token of the attempt: an attempt another worker has taken over (its worker was declared
 * stalled) changes nothing, so a job succeeds once even when two hosts ran it.
 *
 * Every script returns `{ code, events }` as a flat array: the outcome, the
 * events it appended as JSON lines joined by `\n`, then any extra values.
 *
 * @module
 */

/** Helpers every script starts with. ARGV[1] is the prefix, ARGV[2] the origin tag. */
const PRELUDE = `
local P = ARGV[1]
local ORIGIN = ARGV[2]
local EVENTS = {}
local function recKey(id) return P .. 'job:' .. id end
local function emit(id, typ, dataJson, now)
  local eid = redis.call('INCR', P .. 'eventseq')
  local ev = '{"id":' .. eid .. ',"jobId":' .. cjson.encode(id) .. ',"type":' ..
    cjson.encode(typ) .. ',"data":' .. dataJson .. ',"at":' .. now .. '}'
  redis.call('ZADD', P .. 'events:' .. id, eid, ev)
  redis.call('PUBLISH', P .. 'live', ORIGIN .. '|' .. ev)
  EVENTS[#EVENTS + 1] = ev
  return ev
end
local function move(id, seq, from, to)
  if from ~= false and from ~= nil then redis.call('ZREM', P .. 'status:' .. from, id) end
  redis.call('ZADD', P .. 'status:' .. to, seq, id)
  redis.call('HSET', recKey(id), 'status', to)
end
local function countBatch(batch, field)
  if batch and batch ~= '' then redis.call('HINCRBY', P .. 'batch:' .. batch, field, 1) end
end
local function create(id, data, attempts, backoff, now, runAt, batch, firstEvent)
  local seq = redis.call('INCR', P .. 'seq')
  redis.call('HSET', recKey(id), 'id', id, 'seq', seq, 'data', data, 'status', 'queued',
    'attemptsMade', 0, 'attempts', attempts, 'backoff', backoff, 'cancelRequested', 0,
    'stalls', 0, 'createdAt', now, 'runAt', runAt, 'batch', batch)
  redis.call('ZADD', P .. 'index', seq, id)
  redis.call('ZADD', P .. 'status:queued', seq, id)
  emit(id, 'job-queued', firstEvent, now)
  return seq
end
local function done(code, ...)
  return { code, table.concat(EVENTS, '\\n'), ... }
end
`;

/**
 * add: ARGV id, data, attempts, backoff ('' none), now, runAt, batch ('' none).
 * Codes: `added` (extra: seq) or `exists`.
 */
export const ADD = PRELUDE + `
local id = ARGV[3]
if redis.call('EXISTS', recKey(id)) == 1 then return done('exists') end
local seq = create(id, ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], '{"attempt":0}')
return done('added', seq)
`;

/**
 * start: a worker took the job from BullMQ. ARGV id, token, now, worker, maxStalls, and for a
 * job a scheduler made (no record yet): data, attempts, backoff (else '').
 *
 * A record still `running` means the attempt before stalled (its worker died): the stall is
 * counted, the attempt given back, and the job fails once it stalled `maxStalls` times.
 * Codes: `run` (extra: the record as a flat field/value list), `missing` (removed), `finished`
 * (extra: its status), `canceled`, `failed` (extra: the error).
 */
export const START = PRELUDE + `
local id, token, now, worker = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local maxStalls = tonumber(ARGV[7])
local key = recKey(id)
if redis.call('EXISTS', key) == 0 then
  if ARGV[8] == '' then return done('missing') end
  create(id, ARGV[8], ARGV[9], ARGV[10], now, now, '', '{"attempt":0,"reason":"scheduled"}')
end
local r = redis.call('HMGET', key, 'status', 'seq', 'attemptsMade', 'stalls', 'cancelRequested', 'batch')
local status, seq, made, stalls, cancel, batch = r[1], r[2], tonumber(r[3]), tonumber(r[4]), r[5], r[6]
if status == 'succeeded' or status == 'failed' or status == 'canceled' then
  return done('finished', status)
end
if status == 'running' then
  stalls = stalls + 1
  redis.call('HSET', key, 'stalls', stalls)
  redis.call('HDEL', key, 'token')
  if stalls >= maxStalls then
    local err = 'stalled: its worker stopped while it ran ' .. stalls .. ' times'
    redis.call('HSET', key, 'error', err, 'finishedAt', now)
    move(id, seq, 'running', 'failed')
    emit(id, 'job-failed', '{"error":' .. cjson.encode(err) .. '}', now)
    countBatch(batch, 'failed')
    return done('failed', err)
  end
  made = math.max(0, made - 1)
  redis.call('HSET', key, 'attemptsMade', made, 'runAt', now)
  move(id, seq, 'running', 'queued')
  emit(id, 'job-queued', '{"reason":"recovered: its worker stopped"}', now)
  status = 'queued'
end
if cancel == '1' then
  redis.call('HSET', key, 'finishedAt', now)
  move(id, seq, status, 'canceled')
  emit(id, 'job-canceled', '{}', now)
  countBatch(batch, 'canceled')
  return done('canceled')
end
made = made + 1
redis.call('HSET', key, 'attemptsMade', made, 'startedAt', now, 'token', token, 'worker', worker)
redis.call('HDEL', key, 'error')
move(id, seq, status, 'running')
emit(id, 'job-running', '{"attempt":' .. made .. ',"worker":' .. cjson.encode(worker) .. '}', now)
local code = done('run')
local fields = redis.call('HGETALL', key)
for i = 1, #fields do code[#code + 1] = fields[i] end
return code
`;

/**
 * finish: the attempt with `token` ended. ARGV id, token, now, kind (succeeded | canceled |
 * requeue | retry | failed), payload (result JSON, requeue reason or error), runAt (retry,
 * or a requeue that waits; 0 for now).
 * Codes: `ok`, or `lost` when the job is no longer this attempt's.
 */
export const FINISH = PRELUDE + `
local id, token, now, kind, payload, runAt = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local key = recKey(id)
local r = redis.call('HMGET', key, 'status', 'token', 'seq', 'batch', 'attemptsMade')
if r[1] ~= 'running' or r[2] ~= token then return done('lost') end
local seq, batch, made = r[3], r[4], tonumber(r[5])
redis.call('HDEL', key, 'token')
if kind == 'succeeded' then
  redis.call('HSET', key, 'result', payload, 'finishedAt', now)
  move(id, seq, 'running', 'succeeded')
  emit(id, 'job-succeeded', '{}', now)
  countBatch(batch, 'succeeded')
elseif kind == 'canceled' then
  redis.call('HSET', key, 'finishedAt', now)
  move(id, seq, 'running', 'canceled')
  emit(id, 'job-canceled', '{}', now)
  countBatch(batch, 'canceled')
elseif kind == 'requeue' then
  local at = now
  if tonumber(runAt) > 0 then at = runAt end
  redis.call('HSET', key, 'attemptsMade', math.max(0, made - 1), 'runAt', at)
  move(id, seq, 'running', 'queued')
  emit(id, 'job-queued', '{"reason":' .. cjson.encode(payload) .. '}', now)
elseif kind == 'retry' then
  redis.call('HSET', key, 'error', payload, 'runAt', runAt)
  move(id, seq, 'running', 'queued')
  emit(id, 'job-retrying', '{"error":' .. cjson.encode(payload) .. ',"attempt":' .. made ..
    ',"runAt":' .. runAt .. '}', now)
else
  redis.call('HSET', key, 'error', payload, 'finishedAt', now)
  move(id, seq, 'running', 'failed')
  emit(id, 'job-failed', '{"error":' .. cjson.encode(payload) .. '}', now)
  countBatch(batch, 'failed')
end
return done('ok')
`;

/**
 * cancel: ARGV id, now. Codes: `canceled` (it was queued: canceled now), `requested` (it
 * runs: its worker is told), `unchanged` (finished), `missing`.
 */
export const CANCEL = PRELUDE + `
local id, now = ARGV[3], ARGV[4]
local key = recKey(id)
local r = redis.call('HMGET', key, 'status', 'seq', 'batch')
local status, seq, batch = r[1], r[2], r[3]
if not status then return done('missing') end
if status == 'queued' then
  redis.call('HSET', key, 'finishedAt', now, 'cancelRequested', 1)
  move(id, seq, 'queued', 'canceled')
  emit(id, 'job-canceled', '{}', now)
  countBatch(batch, 'canceled')
  return done('canceled')
end
if status == 'running' then
  redis.call('HSET', key, 'cancelRequested', 1)
  return done('requested')
end
return done('unchanged')
`;

/**
 * remove: ARGV id, now. Deletes a finished job's record and events and tells live followers
 * (an event with id 0, not stored). Codes: `removed`, `missing`, or `active` (extra: status).
 */
export const REMOVE = PRELUDE + `
local id, now = ARGV[3], ARGV[4]
local key = recKey(id)
local status = redis.call('HGET', key, 'status')
if not status then return done('missing') end
if status == 'queued' or status == 'running' then return done('active', status) end
redis.call('DEL', key, P .. 'events:' .. id)
redis.call('ZREM', P .. 'index', id)
redis.call('ZREM', P .. 'status:' .. status, id)
local ev = '{"id":0,"jobId":' .. cjson.encode(id) .. ',"type":"job-removed","data":{},"at":' .. now .. '}'
redis.call('PUBLISH', P .. 'live', ORIGIN .. '|' .. ev)
EVENTS[1] = ev
return done('removed')
`;

/**
 * emit: a processor's event. ARGV id, token, now, type, data (JSON). Stored only while the
 * attempt with `token` runs. Codes: `ok`, `lost`.
 */
export const EMIT = PRELUDE + `
local id, token, now = ARGV[3], ARGV[4], ARGV[5]
local r = redis.call('HMGET', recKey(id), 'status', 'token')
if r[1] ~= 'running' or r[2] ~= token then return done('lost') end
emit(id, ARGV[6], ARGV[7], now)
return done('ok')
`;

/** progress: ARGV id, token, progress (JSON). Codes: `ok`, `lost`. */
export const PROGRESS = PRELUDE + `
local key = recKey(ARGV[3])
local r = redis.call('HMGET', key, 'status', 'token')
if r[1] ~= 'running' or r[2] ~= ARGV[4] then return done('lost') end
redis.call('HSET', key, 'progress', ARGV[5])
return done('ok')
`;
