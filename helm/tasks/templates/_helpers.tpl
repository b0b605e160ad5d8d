{{/* Chart name, truncated to the 63 characters Kubernetes names allow. */}}
{{- define "tasks.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name: "<release>" when it already contains the chart name, else "<release>-<chart>". */}}
{{- define "tasks.fullname" -}}
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

{{/* The Dapr Configuration every sidecar uses (dapr.io/config). */}}
{{- define "tasks.daprConfigName" -}}
{{- printf "%s-dapr-config" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object, except the selector labels. */}}
{{- define "tasks.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: {{ include "tasks.name" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* Labels of objects that belong to the release as a whole. */}}
{{- define "tasks.labels" -}}
{{ include "tasks.commonLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Selector labels of one service: dict "root" $ "name" <service key>. */}}
{{- define "tasks.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* A service entry merged over serviceDefaults: dict "root" $ "svc" <entry>. */}}
{{- define "tasks.service" -}}
{{- $merged := mustMergeOverwrite (deepCopy .root.Values.serviceDefaults) (deepCopy .svc) -}}
{{- toYaml $merged -}}
{{- end -}}

{{/* Image reference: dict "root" $ "image" {repository, tag?, digest?}. */}}
{{- define "tasks.image" -}}
{{- $repo := required "image.repository is required" .image.repository -}}
{{- if .root.Values.image.registry -}}
{{- $repo = printf "%s/%s" (trimSuffix "/" .root.Values.image.registry) $repo -}}
{{- end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repo .image.digest -}}
{{- else -}}
{{- $tag := .image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}

{{/* An env var read from an existing Secret: dict "env" NAME "ref" {name, key}. */}}
{{- define "tasks.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "secret name for %s is required" .env) .ref.name }}
      key: {{ required (printf "secret key for %s is required" .env) .ref.key }}
{{- end -}}

{{/* Pod securityContext of every workload (distroless nonroot = 65532). */}}
{{- define "tasks.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container securityContext of every workload. */}}
{{- define "tasks.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* A Dapr component metadata item from a secret: dict "name" N "ref" {name, key}. */}}
{{- define "tasks.daprSecretItem" -}}
- name: {{ .name }}
  secretKeyRef:
    name: {{ required (printf "secret name for %s is required" .name) .ref.name }}
    key: {{ required (printf "secret key for %s is required" .name) .ref.key }}
{{- end -}}

{{/* True ("true") when an app id loads the `secretstore` component and so needs an API token. */}}
{{- define "tasks.needsApiToken" -}}
{{- if has .appId .root.Values.dapr.secretStore.scopes -}}true{{- end -}}
{{- end -}}

{{/* Egress peers from {namespaces, cidrs}: dict "peer" <values>. */}}
{{- define "tasks.peers" -}}
{{- range .peer.namespaces }}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ . }}
{{- end }}
{{- range .peer.cidrs }}
- ipBlock:
    cidr: {{ . }}
{{- end }}
{{- end -}}

{{/*
Metadata of a pubsub.kafka component: dict "p" .Values.dapr.pubsub (brokers,
mode, auth, retries) "consumerGroup" G "clientID" C "initialOffset" O.
*/}}
{{- define "tasks.kafkaMetadata" -}}
{{- $p := .p -}}
- name: brokers
  value: {{ required "dapr.pubsub.brokers is required" $p.brokers | quote }}
# The consumer group decides who shares events: "{appID}" = the replicas of
# an app share the partitions, different apps each get every event;
# "{podName}" = every pod gets every event.
- name: consumerGroup
  value: {{ .consumerGroup | quote }}
- name: clientID
  value: {{ .clientID | quote }}
# Where a NEW consumer group starts: oldest = events published before an
# app's first start are not skipped; newest = only live events.
- name: initialOffset
  value: {{ .initialOffset | quote }}
{{- if eq $p.mode "production" }}
- name: authType
  value: "password"
# Exact case: anything but SHA-256/SHA-512 silently falls back to PLAIN.
- name: saslMechanism
  value: {{ $p.production.saslMechanism | quote }}
{{ include "tasks.daprSecretItem" (dict "name" "saslUsername" "ref" $p.production.saslUsernameSecretRef) }}
{{ include "tasks.daprSecretItem" (dict "name" "saslPassword" "ref" $p.production.saslPasswordSecretRef) }}
- name: disableTls
  value: "false"
{{ include "tasks.daprSecretItem" (dict "name" "caCert" "ref" $p.production.caCertSecretRef) }}
{{- else if eq $p.mode "local" }}
- name: authType
  value: "none"
{{- else }}
{{- fail (printf "dapr.pubsub.mode must be local or production, not %q" $p.mode) }}
{{- end }}
# Per-message retry inside the component (see values.yaml): only used when
# the DLQ hand-off fails or a subscription has no DLQ. -1 because a finite
# count silently skips the message; the backoff bounds the rate instead.
- name: consumeRetryEnabled
  value: "true"
- name: backOffPolicy
  value: {{ $p.backOffPolicy | quote }}
- name: backOffInitialInterval
  value: {{ $p.backOffInitialInterval | quote }}
- name: backOffMaxInterval
  value: {{ $p.backOffMaxInterval | quote }}
- name: backOffMaxRetries
  value: {{ $p.backOffMaxRetries | quote }}
- name: backOffMaxElapsedTime
  value: {{ $p.backOffMaxElapsedTime | quote }}
{{- end -}}

{{/* The pub/sub component name a service uses (PUBSUB_NAME): dict "root" $ "svc" <merged service> "key" <service key>. */}}
{{- define "tasks.pubsubName" -}}
{{- $d := .root.Values.dapr -}}
{{- if eq .svc.pubsub "perPod" -}}
{{- if not (has .svc.appId $d.perPodPubsub.scopes) -}}
{{- fail (printf "services.%s: pubsub perPod needs app id %s in dapr.perPodPubsub.scopes" .key .svc.appId) -}}
{{- end -}}
{{- $d.perPodPubsub.name -}}
{{- else if eq .svc.pubsub "shared" -}}
{{- if not (has .svc.appId $d.pubsub.scopes) -}}
{{- fail (printf "services.%s: app id %s is not in dapr.pubsub.scopes" .key .svc.appId) -}}
{{- end -}}
{{- $d.pubsub.name -}}
{{- else -}}
{{- fail (printf "services.%s.pubsub must be shared or perPod, not %q" .key .svc.pubsub) -}}
{{- end -}}
{{- end -}}
