{{/*
Chart name, truncated to the 63 characters a DNS label allows.
*/}}
{{- define "hatchet-trace-flags.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of every object name. Contains the release name once, not twice.
*/}}
{{- define "hatchet-trace-flags.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "hatchet-trace-flags.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selects the service pods only: the component keeps the `helm test` pod out of the Deployment's,
Service's and PodDisruptionBudget's selectors.
*/}}
{{- define "hatchet-trace-flags.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hatchet-trace-flags.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{- define "hatchet-trace-flags.labels" -}}
helm.sh/chart: {{ include "hatchet-trace-flags.chart" . }}
{{ include "hatchet-trace-flags.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: hatchet-trace-flags
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Label that lets a pod through the NetworkPolicy when `networkPolicy.allowExternal` is false.
*/}}
{{- define "hatchet-trace-flags.clientLabel" -}}
{{ include "hatchet-trace-flags.fullname" . }}-client: "true"
{{- end }}

{{- define "hatchet-trace-flags.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hatchet-trace-flags.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "hatchet-trace-flags.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "hatchet-trace-flags.sqlite" -}}
{{- if eq .Values.database.type "sqlite" }}true{{ end }}
{{- end }}

{{/*
Secret with the API tokens: the user's, or the one secret.yaml renders from values.
*/}}
{{- define "hatchet-trace-flags.authSecretName" -}}
{{- default (printf "%s-auth" (include "hatchet-trace-flags.fullname" .)) .Values.auth.existingSecret }}
{{- end }}

{{/*
The chart-created Secret always holds read tokens (given or generated); an existing one only when
its key is named.
*/}}
{{- define "hatchet-trace-flags.hasReadTokens" -}}
{{- if .Values.auth.existingSecret }}
{{- if .Values.auth.existingSecretReadTokensKey }}true{{ end }}
{{- else }}true{{ end }}
{{- end }}

{{/*
"true" when the chart generates at least one token (none given in values, no existing Secret).
*/}}
{{- define "hatchet-trace-flags.generatesTokens" -}}
{{- if and (not .Values.auth.existingSecret) (or (not .Values.auth.adminTokens) (not .Values.auth.readTokens)) }}true{{ end }}
{{- end }}

{{/*
Where the token files are mounted; the service reads them through *_TOKENS_FILE.
*/}}
{{- define "hatchet-trace-flags.tokensDir" -}}
/etc/hatchet-trace-flags/auth
{{- end }}

{{/*
Checks that values.schema.json cannot express (it cannot compare two values). Rendered by the
Deployment so that every install and upgrade runs them.
*/}}
{{- define "hatchet-trace-flags.validate" -}}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail (printf "autoscaling: minReplicas (%v) must not exceed maxReplicas (%v)" .Values.autoscaling.minReplicas .Values.autoscaling.maxReplicas) }}
{{- end }}
{{- end }}
