-- wrk script: POST /api/v2/members with a unique email per request, over REST.
-- ADMIN_TOKEN (env) is an admin API token. Each wrk thread numbers its own members.
local counter = 0
prefix = prefix or "solo"

local token = os.getenv("ADMIN_TOKEN") or ""

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("prefix", string.format("t%d-%d-%d", threads, os.time(), math.random(1, 1e9)))
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"email":"%s-%d@wrk.example","firstName":"Member","lastName":"N%d","role":"reader"}',
    prefix, counter, counter)
  return wrk.format("POST", "/api/v2/members", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = token,
  }, body)
end

local failures = 0
function response(status, headers, body)
  if status ~= 201 then
    failures = failures + 1
    if failures < 5 then io.stderr:write("status " .. status .. ": " .. body .. "\n") end
  end
end
