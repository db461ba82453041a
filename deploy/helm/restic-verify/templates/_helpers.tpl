{{/* Names and labels. */}}
{{- define "restic-verify.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "restic-verify.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
A cron schedule; "@<period>-random" (hourly, daily, weekly, monthly) becomes a fixed
minute, hour, weekday or day of month taken from the adler32 of the key (release,
job and repository or shard), so CronJobs spread out and keep their time across
upgrades. Called with (list <schedule> <key>).
*/}}
{{- define "restic-verify.schedule" -}}
{{- $s := index . 0 -}}
{{- $h := index . 1 | adler32sum | atoi -}}
{{- $m := mod $h 60 -}}
{{- $hour := mod (div $h 60) 24 -}}
{{- if eq $s "@hourly-random" -}}
{{- printf "%d * * * *" $m -}}
{{- else if eq $s "@daily-random" -}}
{{- printf "%d %d * * *" $m $hour -}}
{{- else if eq $s "@weekly-random" -}}
{{- printf "%d %d * * %d" $m $hour (mod (div $h 1440) 7) -}}
{{- else if eq $s "@monthly-random" -}}
{{- printf "%d %d %d * *" $m $hour (add1 (mod (div $h 1440) 28)) -}}
{{- else if hasSuffix "-random" $s -}}
{{- fail (printf "schedule %q: use @hourly-random, @daily-random, @weekly-random, @monthly-random or a 5-field cron" $s) -}}
{{- else -}}
{{- $s -}}
{{- end -}}
{{- end -}}

{{/* The repositories a job runs on, as a JSON list: all for a check, those with a
`source` for restore tests and audits (they compare with it). Called with (list root job). */}}
{{- define "restic-verify.reposOf" -}}
{{- $job := index . 1 -}}
{{- $out := list -}}
{{- range (index . 0).Values.repositories -}}
{{- if or (eq $job.kind "check") .source -}}
{{- $out = append $out . -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* TOML lines `key = value` of a map (values as JSON, which TOML reads alike for strings, numbers, booleans and lists). */}}
{{- define "restic-verify.tomlKeys" -}}
{{- range $k, $v := . }}
{{ $k }} = {{ toJson $v }}
{{- end }}
{{- end -}}

{{/* The profile: [defaults], one [repository.NAME] per repository, the jobs
(per repository: JOB-REPO on one repository; sharded: JOB on all of them) and the
Pushgateway notifier. */}}
{{- define "restic-verify.profile" -}}
{{- $root := . -}}
{{- $sharded := gt (int .Values.shards) 0 -}}
# restic-verify profile rendered by the Helm chart {{ .Chart.Name }}-{{ .Chart.Version }}; see restic-verify.toml(5).
[defaults]
test-dir = "/restore"
{{- if .Values.state.enabled }}
state-dir = "/state"
results = "/state/results.jsonl"
{{- end }}
{{- if .Values.pushgateway.url }}
notify = ["pushgateway"]
{{- end }}
{{- if $sharded }}
{{- $maps := list -}}
{{- $seen := dict -}}
{{- range .Values.repositories }}
{{- if .source }}
{{- if hasKey $seen .source.snapshotPath }}
{{- fail (printf "repositories %s and %s both have source.snapshotPath %s: with shards a job maps snapshot paths for all repositories at once; set distinct paths or use shards: 0" (get $seen .source.snapshotPath) .name .source.snapshotPath) }}
{{- end }}
{{- $_ := set $seen .source.snapshotPath .name }}
{{- $maps = append $maps (printf "%s=/src/%s" .source.snapshotPath .name) }}
{{- end }}
{{- end }}
{{- if $maps }}
map = {{ toJson $maps }}
{{- end }}
{{- end }}
{{- include "restic-verify.tomlKeys" .Values.defaults }}
{{- range .Values.repositories }}

[repository.{{ .name }}]
url = {{ toJson .url }}
password-file = {{ printf "/run/secrets/restic-verify/%s/password" .name | toJson }}
{{- if .envSecret }}
env-file = {{ printf "/run/secrets/restic-verify/%s/env" .name | toJson }}
{{- end }}
{{- include "restic-verify.tomlKeys" (.options | default dict) }}
{{- end }}
{{- range $job := .Values.jobs }}
{{- $repos := include "restic-verify.reposOf" (list $root $job) | fromJsonArray }}
{{- if and $sharded $repos }}

[job.{{ $job.name }}]
kind = {{ toJson $job.kind }}
{{- $names := list }}
{{- range $repos }}{{ $names = append $names .name }}{{ end }}
repositories = {{ toJson $names }}
{{- include "restic-verify.tomlKeys" ($job.options | default dict) }}
{{- else if not $sharded }}
{{- range $repo := $repos }}

[job.{{ $job.name }}-{{ $repo.name }}]
kind = {{ toJson $job.kind }}
repositories = [{{ toJson $repo.name }}]
{{- if and $repo.source (ne $job.kind "check") }}
map = [{{ printf "%s=/src/%s" $repo.source.snapshotPath $repo.name | toJson }}]
{{- if not (hasKey ($job.options | default dict) "path") }}
# The newest snapshot of this source (K8up writes one snapshot per PVC into a repository).
path = [{{ toJson $repo.source.snapshotPath }}]
{{- end }}
{{- end }}
{{- include "restic-verify.tomlKeys" ($job.options | default dict) }}
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.pushgateway.url }}

[notify.pushgateway]
type = "pushgateway"
url = {{ toJson .Values.pushgateway.url }}
{{- if .Values.pushgateway.instance }}
instance = {{ toJson .Values.pushgateway.instance }}
{{- end }}
{{- end }}
{{ end -}}
