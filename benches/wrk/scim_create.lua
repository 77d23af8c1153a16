-- wrk script: POST /scim/v2/Users with a unique userName per request.
-- SCIM_TOKEN (env) is the connection's bearer token. Each wrk thread numbers its own users.
local counter = 0
prefix = prefix or "solo"

local token = os.getenv("SCIM_TOKEN") or ""

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("prefix", string.format("t%d-%d-%d", threads, os.time(), math.random(1, 1e9)))
end

function request()
  counter = counter + 1
  local name = string.format("%s-%d@wrk.example", prefix, counter)
  local body = string.format(
    '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"%s","active":true,' ..
    '"externalId":"x-%s-%d","name":{"givenName":"User","familyName":"N%d"},' ..
    '"emails":[{"value":"%s","type":"work","primary":true}]}',
    name, prefix, counter, counter, name)
  return wrk.format("POST", "/scim/v2/Users", {
    ["Content-Type"] = "application/scim+json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end

local failures = 0
function response(status, headers, body)
  if status ~= 201 then
    failures = failures + 1
    if failures < 5 then io.stderr:write("status " .. status .. ": " .. body .. "\n") end
  end
end
