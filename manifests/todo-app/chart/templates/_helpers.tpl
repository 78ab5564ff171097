{{- define "todo.labels" -}}
app.kubernetes.io/part-of: todo-app
app.kubernetes.io/managed-by: kubectl-ai
{{- end }}

{{- define "todo.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 1001
runAsGroup: 1001
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}
