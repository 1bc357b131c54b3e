-- Generated from hack/argocd/health.lua by hack/generate-argocd-health.ts: edit the source, not this file.
local kind = "MemoryCluster"
-- Argo CD health of an engram.dev resource; `kind` is set by the generated file's first lines.
-- Healthy only when Ready is True for the current generation; work in progress is Progressing
-- (never Degraded, which would stall sync waves); Stalled or Ready=False is Degraded; paused is Suspended.
local hs = {}
local generation = obj.metadata.generation or 0
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report the status of this " .. kind
  return hs
end
if obj.status.observedGeneration == nil or obj.status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end
local byType = {}
for _, c in ipairs(obj.status.conditions) do
  byType[c.type] = c
end
local function isTrue(t)
  return byType[t] ~= nil and byType[t].status == "True"
end
if isTrue("Paused") then
  hs.status = "Suspended"
  hs.message = byType["Paused"].message
  return hs
end
if isTrue("Stalled") then
  hs.status = "Degraded"
  hs.message = byType["Stalled"].message
  return hs
end
local ready = byType["Ready"]
if ready == nil or (ready.observedGeneration ~= nil and ready.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition of generation " .. generation
  return hs
end
hs.message = ready.message
if ready.status == "False" then
  hs.status = "Degraded"
elseif ready.status == "True" and not isTrue("Reconciling") then
  hs.status = "Healthy"
else
  -- Ready Unknown, or Ready True while a rollout of this generation is still reconciling.
  hs.status = "Progressing"
  if ready.status == "True" then
    hs.message = byType["Reconciling"].message
  end
end
if hs.message == nil or hs.message == "" then
  hs.message = kind .. " " .. obj.metadata.name .. ": Ready is " .. ready.status
end
return hs
