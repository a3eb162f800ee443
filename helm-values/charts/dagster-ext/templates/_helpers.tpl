{{/* Names of this release's objects: <release>-dagster-ext, unless the release name has it. */}}
{{- define "dagsterExt.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The official chart's fullname of the Dagster release (its rule: the release name when it
contains "dagster", else <release>-dagster). */}}
{{- define "dagsterExt.dagsterFullname" -}}
{{- $release := required "dagster.releaseName is required" .Values.dagster.releaseName -}}
{{- if contains "dagster" $release -}}
{{- $release | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-dagster" $release | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dagsterExt.instanceConfigMap" -}}
{{- .Values.dagster.instanceConfigMap | default (printf "%s-instance" (include "dagsterExt.dagsterFullname" .)) -}}
{{- end -}}

{{/* The user-deployments subchart's fullname: <dagster fullname>-user-deployments, unless that
already contains the subchart's name. */}}
{{- define "dagsterExt.userDeploymentsFullname" -}}
{{- $release := .Values.dagster.releaseName -}}
{{- if contains "dagster-user-deployments" $release -}}
{{- $release | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-dagster-user-deployments" $release | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dagsterExt.serviceAccountName" -}}
{{- required "serviceAccount.name is required" .Values.serviceAccount.name -}}
{{- end -}}

{{- define "dagsterExt.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "dagsterExt.image" -}}
{{- printf "%s:%s" (required "image.repository is required" .Values.image.repository) (required "image.tag is required" (toString .Values.image.tag)) -}}
{{- end -}}

{{/* The `dagster-ext celery status` probe command. */}}
{{- define "dagsterExt.statusProbe" -}}
exec:
  command: ["dagster-ext", "celery", "status", "-y", "/opt/dagster/dagster-ext/executor.yaml"]
{{- end -}}
