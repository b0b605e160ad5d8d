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
