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


{{/* The Secret holding the Kafka passwords, one key per principal: kafka.existingSecret, else the chart's own. */}}
{{- define "conformity.kafkaSecretName" -}}
{{- if .Values.kafka.existingSecret }}
{{- .Values.kafka.existingSecret }}
{{- else if .Values.secrets.create }}
{{- printf "%s-kafka" (include "conformity.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- required "kafka.existingSecret is required when secrets.create is false: the Secret of Kafka passwords, one key per principal" "" }}
{{- end }}
{{- end }}

{{/* One principal's Kafka password from values: (dict "root" $ "principal" NAME "required" BOOL).
The given one; else, with development=true, the development one (dev-kafka-<principal>); else
a rendering failure naming it when required, nothing when not. */}}
{{- define "conformity.kafkaPassword" -}}
{{- $given := index (.root.Values.kafka.passwords | default dict) .principal | default "" }}
{{- if $given }}
{{- $given }}
{{- else if .root.Values.development }}
{{- printf "dev-kafka-%s" .principal }}
{{- else if .required }}
{{- required (printf "kafka.passwords.%s is required: the Kafka password of principal %s (or kafka.existingSecret with a key %s; only development=true allows development passwords)" .principal .principal .principal) "" }}
{{- end }}
{{- end }}

{{/* Principals whose user is made only when a password is given (tools, not services). */}}
{{- define "conformity.kafkaToolPrincipals" -}}
operators
dlq-replay
{{- end }}

{{/* SASL_SSL with kafka.caSecret: the env entry, volume mount and volume of the brokers' CA. */}}
{{- define "conformity.kafkaCaEnv" -}}
{{- if and (eq .Values.kafka.securityProtocol "SASL_SSL") .Values.kafka.caSecret }}
- name: CONFORMITY_KAFKA_SSL_CAFILE
  value: /etc/conformity/kafka-ca/{{ .Values.kafka.caKey }}
{{- end }}
{{- end }}
{{- define "conformity.kafkaCaMount" -}}
{{- if and (eq .Values.kafka.securityProtocol "SASL_SSL") .Values.kafka.caSecret }}
- name: kafka-ca
  mountPath: /etc/conformity/kafka-ca
  readOnly: true
{{- end }}
{{- end }}
{{- define "conformity.kafkaCaVolume" -}}
{{- if and (eq .Values.kafka.securityProtocol "SASL_SSL") .Values.kafka.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.caSecret }}
    items:
      - key: {{ .Values.kafka.caKey }}
        path: {{ .Values.kafka.caKey }}
{{- end }}
{{- end }}

{{/* The brokers are reached only with SASL: refuse anything else at rendering. */}}
{{- define "conformity.kafkaSecurityProtocol" -}}
{{- $protocol := .Values.kafka.securityProtocol }}
{{- if not (has $protocol (list "SASL_PLAINTEXT" "SASL_SSL")) }}
{{- fail (printf "kafka.securityProtocol must be SASL_PLAINTEXT or SASL_SSL (the brokers admit only signed-in principals), not %q" (toString $protocol)) }}
{{- end }}
{{- $protocol }}
{{- end }}

{{/* The Secret and key holding the certificates' credential signing key, or nothing (development
without a key: the digital routes answer 503). Fails, naming the value, when production values
give no key, or a key that is not a private Ed25519 JWK, or a development ("dev-") one. */}}
{{- define "conformity.credentialKeySecret" -}}
{{- $c := .Values.credentials }}
{{- if $c.existingSecret }}
{{- $c.existingSecret }}
{{- else if $c.signingKey }}
{{- $jwk := $c.signingKey | fromJson }}
{{- if or $jwk.Error (ne (toString $jwk.kty) "OKP") (ne (toString $jwk.crv) "Ed25519") (not $jwk.d) (not $jwk.kid) }}
{{- fail "credentials.signingKey must be a private Ed25519 JWK (JSON with kty OKP, crv Ed25519, d and a kid): python -m certificates.signing new-key --kid <name>" }}
{{- end }}
{{- if and (hasPrefix "dev-" (toString $jwk.kid)) (not .Values.development) }}
{{- fail (printf "credentials.signingKey is a development key (kid %s): the certificates service refuses dev- keys in production; make one for this deployment" $jwk.kid) }}
{{- end }}
{{- if not .Values.secrets.create }}
{{- fail "credentials.existingSecret is required when secrets.create is false: the Secret of the credential signing key" }}
{{- end }}
{{- printf "%s-credentials" (include "conformity.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- else if not .Values.development }}
{{- fail "credentials.signingKey (or credentials.existingSecret) is required: the certificates' credential signing key, a private Ed25519 JWK (python -m certificates.signing new-key --kid <name>); only development=true renders without one" }}
{{- end }}
{{- end }}

{{/* The certificates' public URL: required unless development (then the service's own default). */}}
{{- define "conformity.publicBaseUrl" -}}
{{- if .Values.credentials.publicBaseUrl }}
{{- .Values.credentials.publicBaseUrl }}
{{- else if not .Values.development }}
{{- fail "credentials.publicBaseUrl is required: where the public reaches the certificates service (CONFORMITY_PUBLIC_BASE_URL), named by every credential; only development=true renders without it" }}
{{- end }}
{{- end }}

{{/* The Secret of the portal's session secret (and client secret): portal.existingSecret, else the chart's own. */}}
{{- define "conformity.portalSecretName" -}}
{{- if .Values.portal.existingSecret }}
{{- .Values.portal.existingSecret }}
{{- else if .Values.secrets.create }}
{{- printf "%s-portal" (include "conformity.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- fail "portal.existingSecret is required when secrets.create is false: the Secret with the portal's session-secret" }}
{{- end }}
{{- end }}

{{/* The portal's session secret from values; development: a well-known one; else a failure naming it. */}}
{{- define "conformity.portalSessionSecret" -}}
{{- if .Values.portal.sessionSecret }}
{{- if lt (len .Values.portal.sessionSecret) 32 }}
{{- fail "portal.sessionSecret must be at least 32 characters (random)" }}
{{- end }}
{{- .Values.portal.sessionSecret }}
{{- else if .Values.development }}
{{- "dev-portal-session-secret-of-a-throw-away-cluster" }}
{{- else }}
{{- fail "portal.sessionSecret (or portal.existingSecret) is required: the key of the portal's session cookies, at least 32 random characters, shared by its replicas; only development=true gives a development one" }}
{{- end }}
{{- end }}
