-- wrk script: GET a console page as a signed-in person's browser does.
-- SESSION (env) is the session cookie's value the console harness prints; PAGE_PATH (env) is
-- the page (default "You", /).
local session = os.getenv("SESSION") or ""
local path = os.getenv("PAGE_PATH") or "/"

function request()
  return wrk.format("GET", path, { ["Cookie"] = "gatehouse_session=" .. session })
end

local failures = 0
function response(status, headers, body)
  if status ~= 200 then
    failures = failures + 1
    if failures < 5 then io.stderr:write("status " .. status .. ": " .. body:sub(1, 200) .. "\n") end
  end
end
