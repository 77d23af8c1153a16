-- wrk script: GET a filtered, sorted page of members, as an access review pages through them.
-- ADMIN_TOKEN (env) is an admin API token; PAGE_PATH (env) overrides the page asked for.
local token = os.getenv("ADMIN_TOKEN") or ""
local path = os.getenv("PAGE_PATH")
  or "/api/v2/members?filter=role:admin%7Cwriter,team:team7&sort=-lastSeen&limit=50"

function request()
  return wrk.format("GET", path, { ["Authorization"] = token })
end

local failures = 0
function response(status, headers, body)
  if status ~= 200 then
    failures = failures + 1
    if failures < 5 then io.stderr:write("status " .. status .. ": " .. body .. "\n") end
  end
end
