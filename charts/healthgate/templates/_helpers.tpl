{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "healthgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified app name: the release name, with the chart name unless it already holds it. */}}
{{- define "healthgate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "healthgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "healthgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "healthgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "healthgate.labels" -}}
helm.sh/chart: {{ include "healthgate.chart" . }}
{{ include "healthgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: healthgate
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "healthgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "healthgate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The image reference: digest wins over tag; the tag defaults to the appVersion. */}}
{{- define "healthgate.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "healthgate.sidecarImage" -}}
{{- default (include "healthgate.image" .) .Values.sidecar.image -}}
{{- end -}}

{{/* DNS name the API server calls; the serving certificate must name it. */}}
{{- define "healthgate.serviceHost" -}}
{{- printf "%s.%s.svc" (include "healthgate.fullname" .) .Release.Namespace -}}
{{- end -}}

{{- define "healthgate.certSecretName" -}}
{{- if eq .Values.webhook.certificate.source "secret" -}}
{{- required "webhook.certificate.existingSecret is required when webhook.certificate.source is secret" .Values.webhook.certificate.existingSecret -}}
{{- else -}}
{{- printf "%s-webhook-tls" (include "healthgate.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the key that signs shared-outage directives. */}}
{{- define "healthgate.directiveKeySecretName" -}}
{{- default (printf "%s-directive-key" (include "healthgate.fullname" .)) .Values.directiveKey.existingSecret -}}
{{- end -}}

{{/* True when the Prometheus Operator's API is served (or passed with --api-versions). */}}
{{- define "healthgate.hasPrometheusOperator" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" -}}true{{- end -}}
{{- end -}}

{{/* The operator's identity as the API server names it: what the admission policies match. */}}
{{- define "healthgate.operatorUser" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "healthgate.serviceAccountName" .) -}}
{{- end -}}

{{/*
Namespaces whose pods may be injected: never the system namespaces nor the operator's own (so
even failurePolicy Fail cannot block kube-system), only watchNamespaces when set, ANDed with the
user's webhook.namespaceSelector (which can only narrow it).
*/}}
{{- define "healthgate.podNamespaceSelector" -}}
{{- $skip := list "kube-node-lease" "kube-public" "kube-system" .Release.Namespace | uniq | sortAlpha }}
{{- $expressions := list (dict "key" "kubernetes.io/metadata.name" "operator" "NotIn" "values" $skip) }}
{{- with .Values.watchNamespaces }}
{{- $expressions = append $expressions (dict "key" "kubernetes.io/metadata.name" "operator" "In" "values" (sortAlpha .)) }}
{{- end }}
{{- range .Values.webhook.namespaceSelector.matchExpressions }}
{{- $expressions = append $expressions . }}
{{- end }}
matchExpressions:
  {{- toYaml $expressions | nindent 2 }}
{{- with .Values.webhook.namespaceSelector.matchLabels }}
matchLabels:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The Service the API server calls; ``path`` is the Kopf handler id of the webhook. */}}
{{- define "healthgate.webhookService" -}}
service:
  name: {{ include "healthgate.fullname" .root }}
  namespace: {{ .root.Release.Namespace }}
  path: /{{ .path }}
  port: {{ .root.Values.service.webhookPort }}
{{- end -}}

{{/*
The Kopf peering objects the replicas use (RBAC resourceNames): one, or one per shard
(the operator suffixes the name with -shard-INDEX when --shard-count > 1).
*/}}
{{- define "healthgate.peeringNames" -}}
{{- if gt (int .Values.shards) 1 -}}
{{- $names := list -}}
{{- range $shard := until (int .Values.shards) -}}
{{- $names = append $names (printf "healthgate-shard-%d" $shard) -}}
{{- end -}}
{{- toJson $names -}}
{{- else -}}
[healthgate]
{{- end -}}
{{- end -}}
