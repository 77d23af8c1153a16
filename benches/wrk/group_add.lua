-- wrk script: PATCH /scim/v2/Groups/{GROUP_ID} adding one member per request, as Entra does.
-- SCIM_TOKEN, GROUP_ID and USER_IDS (a file with one user id per line) come from the
-- environment, with WRK_THREADS (wrk's -t); each wrk thread takes every n-th id, so no
-- member is added twice.
local token = os.getenv("SCIM_TOKEN") or ""
local group = os.getenv("GROUP_ID") or ""
local ids = {}
local stride = tonumber(os.getenv("WRK_THREADS") or "1")
local next_index = 1
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("slot", threads)
end

function init(args)
  local n = 0
  for line in io.lines(os.getenv("USER_IDS")) do
    n = n + 1
    ids[n] = line
  end
  next_index = slot or 1
end

function request()
  local id = ids[next_index]
  next_index = next_index + stride
  return wrk.format("PATCH", "/scim/v2/Groups/" .. group, {
    ["Content-Type"] = "application/scim+json",
    ["Authorization"] = "Bearer " .. token,
  }, '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],' ..
     '"Operations":[{"op":"Add","path":"members","value":[{"value":"' .. id .. '"}]}]}')
end

local failures = 0
function response(status, headers, body)
  if status ~= 204 then
    failures = failures + 1
    if failures < 5 then io.stderr:write("status " .. status .. ": " .. body .. "\n") end
  end
end
