{{/* Names and labels. */}}
{{- define "conformity.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "conformity.fullname" -}}
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

{{- define "conformity.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "conformity.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: conformity
{{- end }}

{{/* Selector labels of one service: (dict "root" $ "service" NAME). */}}
{{- define "conformity.selectorLabels" -}}
app.kubernetes.io/name: {{ include "conformity.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .service }}
{{- end }}

{{- define "conformity.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* One service's values: its entry under `services` over serviceDefaults. (dict "root" $ "service" NAME). */}}
{{- define "conformity.service" -}}
{{- $own := index .root.Values.services .service | default dict }}
{{- toYaml (mergeOverwrite (deepCopy .root.Values.serviceDefaults) (deepCopy $own)) }}
{{- end }}

{{/* The enabled services, sorted by name, one per line. */}}
{{- define "conformity.enabledServices" -}}
{{- range $name, $own := .Values.services }}
{{- if ne (toString (default dict $own).enabled) "false" }}
{{ $name }}
{{- end }}
{{- end }}
{{- end }}

{{/* CONFORMITY_DATABASE_URL of one service: its own databaseUrl, else database.url with {service} replaced. */}}
{{- define "conformity.databaseUrl" -}}
{{- $svc := include "conformity.service" . | fromYaml }}
{{- if $svc.databaseUrl }}
{{- $svc.databaseUrl }}
{{- else }}
{{- $url := required "database.url is required (or services.<name>.databaseUrl for every service, or secrets.create=false)" .root.Values.database.url }}
{{- replace "{service}" .service $url }}
{{- end }}
{{- end }}

{{/* The Secret holding one service's database URL and Kafka credentials. */}}
{{- define "conformity.serviceSecretName" -}}
{{- $svc := include "conformity.service" . | fromYaml }}
{{- if .root.Values.secrets.create }}
{{- printf "%s-%s" (include "conformity.fullname" .root) .service | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- required (printf "services.%s.existingSecret is required when secrets.create is false" .service) $svc.existingSecret }}
{{- end }}
{{- end }}

