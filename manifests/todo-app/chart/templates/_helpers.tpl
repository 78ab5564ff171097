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

{{- /* The app's labels and the ones the Prometheus selects its ServiceMonitors and rules by. */ -}}
{{- define "todo.monitoringLabels" -}}
{{ include "todo.labels" . }}
{{- with .Values.monitoring.labels }}
{{ toYaml . }}
{{- end }}
{{- end }}
