{{/*
A CronJob running `restic-verify run <profileJob>` (with --shard through
RESTIC_VERIFY_SHARD when "shard" is set) on the repositories "repos" (whose secrets
and, for restore tests and audits, source PVCs it mounts). Called with a dict: root,
job, name, repos, profileJob, key (the stagger's hash input), shard.
*/}}
{{- define "restic-verify.cronjob" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $job := .job -}}
{{- $full := include "restic-verify.fullname" $root -}}
{{- $sources := ne $job.kind "check" -}}
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {{ .name }}
  labels:
    {{- include "restic-verify.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ $job.kind }}
    restic-verify/job: {{ $job.name }}
spec:
  schedule: {{ include "restic-verify.schedule" (list $job.schedule .key) | quote }}
  {{- if $v.cronJob.timeZone }}
  timeZone: {{ $v.cronJob.timeZone | quote }}
  {{- end }}
  concurrencyPolicy: {{ $v.cronJob.concurrencyPolicy }}
  startingDeadlineSeconds: {{ $v.cronJob.startingDeadlineSeconds }}
  successfulJobsHistoryLimit: {{ $v.cronJob.successfulJobsHistoryLimit }}
  failedJobsHistoryLimit: {{ $v.cronJob.failedJobsHistoryLimit }}
  suspend: {{ $v.cronJob.suspend }}
  jobTemplate:
    metadata:
      labels:
        {{- include "restic-verify.labels" $root | nindent 8 }}
    spec:
      backoffLimit: {{ $v.cronJob.backoffLimit }}
      activeDeadlineSeconds: {{ $v.cronJob.activeDeadlineSeconds }}
      ttlSecondsAfterFinished: {{ $v.cronJob.ttlSecondsAfterFinished }}
      template:
        metadata:
          labels:
            {{- include "restic-verify.labels" $root | nindent 12 }}
            restic-verify/job: {{ $job.name }}
          annotations:
            checksum/config: {{ include "restic-verify.profile" $root | sha256sum }}
            {{- with $v.podAnnotations }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
        spec:
          restartPolicy: Never
          serviceAccountName: {{ $full }}
          automountServiceAccountToken: false
          # The Pushgateway group's instance: one stable name per CronJob.
          hostname: {{ .name | trunc 63 | trimSuffix "-" }}
          {{- with $v.imagePullSecrets }}
          imagePullSecrets:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          securityContext:
            {{- toYaml $v.podSecurityContext | nindent 12 }}
          containers:
            - name: restic-verify
              image: "{{ $v.image.repository }}:{{ $v.image.tag | default $root.Chart.AppVersion }}"
              imagePullPolicy: {{ $v.image.pullPolicy }}
              args:
                {{- range $v.extraArgs }}
                - {{ . | quote }}
                {{- end }}
                - run
                - --config
                - /etc/restic-verify/config.toml
                - {{ .profileJob | quote }}
              env:
                - name: HOME
                  value: /tmp
                - name: TMPDIR
                  value: /tmp
                {{- if .shard }}
                - name: RESTIC_VERIFY_SHARD
                  value: {{ .shard | quote }}
                {{- end }}
              resources:
                {{- toYaml $v.resources | nindent 16 }}
              securityContext:
                {{- toYaml $v.securityContext | nindent 16 }}
              volumeMounts:
                - name: config
                  mountPath: /etc/restic-verify
                  readOnly: true
                - name: tmp
                  mountPath: /tmp
                - name: restore
                  mountPath: /restore
                {{- if $v.state.enabled }}
                - name: state
                  mountPath: /state
                {{- end }}
                {{- range .repos }}
                - name: secret-{{ .name }}
                  mountPath: /run/secrets/restic-verify/{{ .name }}
                  readOnly: true
                {{- if and $sources .source }}
                - name: source-{{ .name }}
                  mountPath: /src/{{ .name }}
                  readOnly: true
                {{- end }}
                {{- end }}
          volumes:
            - name: config
              configMap:
                name: {{ $full }}
            - name: tmp
              emptyDir:
                sizeLimit: {{ $v.tmpDir.sizeLimit | quote }}
            - name: restore
              emptyDir:
                sizeLimit: {{ $v.restoreTestDir.sizeLimit | quote }}
                {{- if $v.restoreTestDir.medium }}
                medium: {{ $v.restoreTestDir.medium | quote }}
                {{- end }}
            {{- if $v.state.enabled }}
            - name: state
              persistentVolumeClaim:
                claimName: {{ $v.state.existingClaim | default (printf "%s-state" $full) }}
            {{- end }}
            {{- range .repos }}
            - name: secret-{{ .name }}
              projected:
                # Readable through fsGroup by the non-root user.
                defaultMode: 0440
                sources:
                  - secret:
                      name: {{ .passwordSecret.name }}
                      items:
                        - key: {{ .passwordSecret.key | default "password" }}
                          path: password
                  {{- with .envSecret }}
                  - secret:
                      name: {{ .name }}
                      items:
                        - key: {{ .key | default "env" }}
                          path: env
                  {{- end }}
            {{- if and $sources .source }}
            - name: source-{{ .name }}
              persistentVolumeClaim:
                claimName: {{ .source.claimName }}
                readOnly: true
            {{- end }}
            {{- end }}
          {{- with $v.nodeSelector }}
          nodeSelector:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $v.tolerations }}
          tolerations:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $v.affinity }}
          affinity:
            {{- toYaml . | nindent 12 }}
          {{- end }}
{{- end -}}
