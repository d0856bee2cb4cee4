{{- define "incident-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's name when it contains the chart's (so `helm install incident-operator` names everything
     exactly like manifests/), else release-chart. */}}
{{- define "incident-operator.fullname" -}}
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

{{- define "incident-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "incident-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "incident-operator.labels" -}}
{{ include "incident-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "incident-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "incident-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create=false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret the pods read (envFrom, optional) and the only one the service account may get. */}}
{{- define "incident-operator.secretName" -}}
{{- default (include "incident-operator.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* KEY: value pairs of the Secret the chart creates; empty when none is set. */}}
{{- define "incident-operator.secretData" -}}
{{- $s := .Values.secrets }}
{{- $d := dict "GITHUB_TOKEN" $s.github.token "GITHUB_REPO" $s.github.repo "GITHUB_API_URL" $s.github.apiUrl
      "INCIDENT_SLACK_TOKEN" $s.slack.token "DD_API_KEY" $s.datadog.apiKey "DD_APP_KEY" $s.datadog.appKey
      "INCIDENT_LLM_API_KEY" $s.llmApiKey "INCIDENT_AGENTCORE_CLIENT_SECRET" $s.agentcoreClientSecret }}
{{- $d = merge (deepCopy (default dict $s.extra)) $d }}
{{- range $k, $v := $d }}
{{- if $v }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end }}
{{- end }}

{{- define "incident-operator.incidentNamespaces" -}}
{{- $list := .Values.incidentNamespaces | default (list .Release.Namespace) }}
{{- toJson $list }}
{{- end }}

{{/* An incident namespace's Incidents may act in every unprotected namespace: a pattern without a literal prefix
     (`*`, `?*`, `[a-z]*`) would make namespaces nobody named into incident namespaces. Only with the opt-in. */}}
{{- define "incident-operator.checkIncidentNamespaces" -}}
{{- if not .Values.allowWildcardIncidentNamespaces }}
{{- range .Values.incidentNamespaces }}
{{- if regexMatch "^[*?\\[]" . }}
{{- fail (printf "incidentNamespaces: %q has no literal prefix, so every namespace it matches (tenants' too) would be an incident namespace whose Incidents act cluster-wide; name the namespaces (or a prefix such as ops-*), or set allowWildcardIncidentNamespaces=true to mean it" .) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{- define "incident-operator.protectedNamespaces" -}}
{{- $list := concat .Values.protectedNamespaces (list .Release.Namespace) | uniq }}
{{- toJson $list }}
{{- end }}

{{/* Refuse a RoleBinding in a protected namespace, as `incident-operator rbac` does. */}}
{{- define "incident-operator.checkNamespace" -}}
{{- $ns := index . 0 }}{{- $what := index . 1 }}{{- $protected := index . 2 }}
{{- if has $ns $protected }}
{{- fail (printf "%s: never granted in protected namespaces: %s" $what $ns) }}
{{- end }}
{{- end }}

{{/* Plain names only: a shell pattern in incidentNamespaces cannot be bound (bind its namespaces with tenantNamespaces). */}}
{{- define "incident-operator.isPattern" -}}
{{- if regexMatch "[*?\\[]" . }}true{{- end }}
{{- end }}
