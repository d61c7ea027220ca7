{{- define "custody-gate.fullname" -}}
{{- printf "%s" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "custody-gate.labels" -}}
app.kubernetes.io/name: custody-gate
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
