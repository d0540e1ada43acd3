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

{{/* Whether Redis needs a password: always the chart's own, an external one when redis.auth. */}}
{{- define "sa.redisAuth" -}}
{{- if or .Values.redis.enabled .Values.redis.auth -}}true{{- end -}}
{{- end -}}

{{/* One key of the release's Secret as an environment variable. */}}
{{- define "sa.secretEnv" -}}
- name: {{ .key }}
  valueFrom:
    secretKeyRef: {name: {{ include "sa.secretName" .root }}, key: {{ .key }}{{ if .optional }}, optional: true{{ end }}}
{{- end -}}

{{/* Environment of every role: where Redis, the license proxy, vLLM and the ASR registry are, and
the credentials between them (from the Secret). */}}
{{- define "sa.env" -}}
- name: PROFILE
  value: {{ .Values.profile | quote }}
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- if include "sa.redisAuth" . }}
{{ include "sa.secretEnv" (dict "root" . "key" "REDIS_PASSWORD") }}
{{- end }}
{{ include "sa.secretEnv" (dict "root" . "key" "INTERNAL_TOKEN") }}
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


{{/* Pod-level security context: non-root, the runtime's default seccomp profile. */}}
{{- define "sa.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level security context: read-only root filesystem, no capabilities, no escalation. */}}
{{- define "sa.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Writable places of an appliance container under a read-only root filesystem: /tmp and the home
directory (torch, vLLM and the joined Whisper model cache there). */}}
{{- define "sa.scratchMounts" -}}
- name: tmp
  mountPath: /tmp
- name: home
  mountPath: /home/appliance
{{- end -}}

{{- define "sa.scratchVolumes" -}}
- name: tmp
  emptyDir: {}
- name: home
  emptyDir: {}
{{- end -}}

{{/* Stopping: the preStop pause lets the endpoints drop the pod before SIGTERM; then the program drains
(DRAIN_TIMEOUT_S) and exits; the grace period covers both with a margin for its shutdown. */}}
{{- define "sa.preStop" -}}
lifecycle:
  preStop:
    exec:
      command: ["sleep", {{ .Values.preStopSeconds | quote }}]
{{- end -}}

{{- define "sa.terminationGrace" -}}
{{- add .root.Values.preStopSeconds .drain 15 -}}
{{- end -}}
