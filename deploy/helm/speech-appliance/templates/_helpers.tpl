{{/* Names, labels and the environment every role shares. */}}

{{- define "sa.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sa.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "sa.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "sa.labels" -}}
app.kubernetes.io/name: {{ include "sa.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "sa.selector" -}}
app.kubernetes.io/name: {{ include "sa.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "sa.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "sa.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "sa.fullname" .)) -}}
{{- end -}}

{{- define "sa.redisHost" -}}
{{- printf "%s-redis" (include "sa.fullname" .) -}}
{{- end -}}

{{- define "sa.redisUrl" -}}
{{- if .Values.redis.enabled -}}
redis://{{ include "sa.redisHost" . }}:6379/0
{{- else -}}
{{- required "redis.external.url is required when redis.enabled=false" .Values.redis.external.url -}}
{{- end -}}
{{- end -}}

{{- define "sa.redisAddress" -}}
{{- if .Values.redis.enabled -}}
{{ include "sa.redisHost" . }}:6379
{{- else -}}
{{- required "redis.external.address (host:port) is required when redis.enabled=false" .Values.redis.external.address -}}
{{- end -}}
{{- end -}}

{{/* Environment of every role: where Redis, the license proxy, vLLM and the ASR registry are. */}}
{{- define "sa.env" -}}
- name: PROFILE
  value: {{ .Values.profile | quote }}
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- if .Values.redis.auth }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "sa.secretName" . }}, key: REDIS_PASSWORD}
{{- end }}
- name: REDIS_URL
  value: {{ include "sa.redisUrl" . | quote }}
- name: ASR_DISCOVERY
  value: registry
- name: LICENSE_MODE
  value: {{ .Values.licenseProxy.mode | quote }}
- name: LICENSE_PROXY_HOST
  value: {{ printf "%s-license-proxy" (include "sa.fullname" .) }}
- name: LICENSE_PROXY_PORT
  value: {{ .Values.licenseProxy.port | quote }}
{{- if .Values.vllm.enabled }}
- name: TTS_LLM_BASE_URL
  value: {{ printf "dns+http://%s-vllm-headless:%v" (include "sa.fullname" .) .Values.vllm.port | quote }}
{{- else if .Values.vllm.externalUrl }}
- name: TTS_LLM_BASE_URL
  value: {{ .Values.vllm.externalUrl | quote }}
{{- else }}
- name: TTS_SVARA_ENABLED
  value: "false"
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

