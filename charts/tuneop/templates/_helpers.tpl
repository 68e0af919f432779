{{- define "tuneop.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tuneop.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "tuneop.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "tuneop.serviceAccountName" -}}
{{- default (include "tuneop.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "tuneop.redisEnabled" -}}
{{- if or .Values.redis.url .Values.redis.existingSecret.name .Values.redis.bundled.enabled -}}true{{- end -}}
{{- end -}}

{{/* The bundled Redis runs unless an external one is named (redis.url or redis.existingSecret). */}}
{{- define "tuneop.bundledRedis" -}}
{{- if and .Values.redis.bundled.enabled (not .Values.redis.url) (not .Values.redis.existingSecret.name) -}}true{{- end -}}
{{- end -}}

{{- define "tuneop.redisSecret" -}}
{{- default (printf "%s-redis" (include "tuneop.fullname" .)) .Values.redis.bundled.password.existingSecret -}}
{{- end -}}

{{/* Where the operator finds the bundled Redis: its Service, unless redis.bundled.host says. */}}
{{- define "tuneop.redisHost" -}}
{{- default (printf "%s-redis.%s.svc" (include "tuneop.fullname" .) .Release.Namespace) .Values.redis.bundled.host -}}
{{- end -}}

{{/*
The operator's namespaced permissions: one list, rendered into a ClusterRole
(watch.mode=cluster) or into a Role in each watched namespace. Each rule says
why the operator needs it; tuneop/api/rbac.py lists the same calls and a
test checks the rendered rules cover them.
*/}}
{{- define "tuneop.namespacedRules" -}}
# Sessions: kopf lists and watches them, and patches its progress annotations.
- apiGroups: ["tuneop.dev"]
  resources: ["tuningsessions"]
  verbs: ["get", "list", "watch", "patch"]
# The status subresource: one status write per reconcile.
- apiGroups: ["tuneop.dev"]
  resources: ["tuningsessions/status"]
  verbs: ["get", "patch"]
# Worker Jobs carry blockOwnerDeletion owner references to their session; where the
# OwnerReferencesPermissionEnforcement admission plugin runs, that needs this.
- apiGroups: ["tuneop.dev"]
  resources: ["tuningsessions/finalizers"]
  verbs: ["update"]
{{- include "tuneop.trialKindRules" . }}
# Worker pods: found by their Job's label to harvest their logs.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
# Pod logs: where the TUNEOP_RESULT lines are read from.
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
# Events on sessions (trial started/finished/failed, new best; and kopf's own).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
# The <session>-best ConfigMap with the best parameters.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "create", "update", "patch"]
{{- end -}}

{{- define "tuneop.clusterRules" -}}
# kopf checks that the TuningSession CRD exists and follows its versions.
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["get", "list", "watch"]
{{- if eq .Values.watch.mode "cluster" }}
# Cluster-wide mode: kopf scans namespaces to serve every one of them.
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
{{- end }}
{{- end -}}


{{/*
The trial kinds of the values list trialKinds, one "group|resource|kind" line each: the
API group (from apiVersion; "" for the core group), the resource (the `resource` field, or
the lower-case kind + "s", which is right for every well-known kind) and the kind.
*/}}
{{- define "tuneop.trialKinds" -}}
{{- range .Values.trialKinds }}
{{- $group := "" }}
{{- if contains "/" .apiVersion }}{{ $group = index (splitList "/" .apiVersion) 0 }}{{ end }}
{{- $resource := default (printf "%ss" (lower .kind)) .resource }}
{{ $group }}|{{ $resource }}|{{ .kind }}
{{- end }}
{{- end -}}

{{/* The operator's rules on its trial resources: exactly the kinds trialKinds names. */}}
{{- define "tuneop.trialKindRules" -}}
{{- range $line := splitList "\n" (include "tuneop.trialKinds" . | trim) }}
{{- $f := splitList "|" $line }}
# {{ index $f 2 }} trials: launched, observed by label, and deleted after harvest
# (worker Jobs also a harvested batch at once, by label: deletecollection).
- apiGroups: [{{ index $f 0 | quote }}]
  resources: [{{ index $f 1 | quote }}]
  verbs: ["create", "get", "list", "watch", "delete"{{ if and (eq (index $f 0) "batch") (eq (index $f 1) "jobs") }}, "deletecollection"{{ end }}]
{{- end }}
{{- end -}}

{{/*
The granted trial kinds as a CEL map literal, "group/Kind" → resource, for the admission
policy: {'batch/Job': 'jobs', 'jobset.x-k8s.io/JobSet': 'jobsets'}.
*/}}
{{- define "tuneop.trialKindsCel" -}}
{{- $pairs := list }}
{{- range $line := splitList "\n" (include "tuneop.trialKinds" . | trim) }}
{{- $f := splitList "|" $line }}
{{- $pairs = append $pairs (printf "'%s/%s': '%s'" (index $f 0) (index $f 2) (index $f 1)) }}
{{- end }}
{{- printf "{%s}" (join ", " $pairs) }}
{{- end -}}
