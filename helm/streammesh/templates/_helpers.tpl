{{/*
Names, labels and the pieces every pod shares. The labels are part of the
contract with the control plane: it watches the Pods of the proxies and
signaling nodes by app.kubernetes.io/name=streammesh and
app.kubernetes.io/component (proxy, signaling), and takes a node's id to be
its pod's name.
*/}}

{{- define "streammesh.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "streammesh.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: streammesh
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: (list $ "proxy"). */}}
{{- define "streammesh.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: streammesh
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "streammesh.componentLabels" -}}
{{ include "streammesh.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "streammesh.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "streammesh.serviceAccount" -}}
{{- printf "%s-%s" (include "streammesh.fullname" (index . 0)) (index . 1) -}}
{{- end -}}

{{/*
The control plane's admin token: PUT /config, drain, certificate revocation
and issue, join tokens. Only the control plane's pods get it.
*/}}
{{- define "streammesh.adminTokenSecret" -}}
{{- default (printf "%s-admin-token" (include "streammesh.fullname" .)) .Values.controlPlane.adminTokenSecret -}}
{{- end -}}

{{/*
The nodes' own admin token: what a proxy's or signaling node's admin
listener needs to bind beyond loopback and what the proxy's GET /keys
requires. A separate Secret because proxies run on the host network by
default: a compromised node must not hold the control plane's token. No
node ever presents an admin token to the control plane (nodes reach it over
gRPC with their certificates), so nothing needs the two to match.
*/}}
{{- define "streammesh.nodeAdminTokenSecret" -}}
{{- printf "%s-node-admin-token" (include "streammesh.fullname" .) -}}
{{- end -}}

{{/*
The names the control plane keeps its state under in the namespace, one set
per release (two releases in one namespace must not share a Lease, a CA or
a trust bundle): set in the rendered config unless config names them, and
read back from it by RBAC and the node pods' mounts. The release
`streammesh` gets the control plane's defaults.
*/}}
{{- define "streammesh.trustBundleConfigMap" -}}
{{- dig "controlPlane" "kubernetes" "trustBundleConfigMap" "" (include "streammesh.configDict" . | fromJson) -}}
{{- end -}}

{{/* Where the config, tokens and trust bundle are mounted: the paths the config names. */}}
{{- define "streammesh.configFile" -}}/etc/streammesh/config.yaml{{- end -}}
{{- define "streammesh.tokenFile" -}}/var/run/secrets/streammesh/token{{- end -}}
{{- define "streammesh.trustBundleFile" -}}/etc/streammesh/trust/bundle.pem{{- end -}}

{{/*
The streammesh config the chart renders: values `config` with what the
chart must set laid over it. A field the chart owns that `config` sets too
fails the render, naming the value to use instead: a silent override would
leave the operator's setting unexplained.
*/}}
{{- define "streammesh.config" -}}
{{- $user := deepCopy (default dict .Values.config) -}}
{{- $owned := list
  (list "controlPlane.registry" "the chart runs the kubernetes registry")
  (list "controlPlane.admin" "the chart listens on 0.0.0.0:15100")
  (list "controlPlane.grpc" "the chart listens on 0.0.0.0:15101")
  (list "controlPlane.address" "nodes dial the control plane's Service")
  (list "controlPlane.adminTokenFile" "the admin token comes from the Secret (controlPlane.adminTokenSecret)")
  (list "controlPlane.bootstrapTokenFile" "workloads show their projected ServiceAccount token")
  (list "controlPlane.trustBundleFile" "nodes read the trust bundle ConfigMap")
  (list "controlPlane.kubernetes.namespace" "the control plane runs in the release namespace")
  (list "controlPlane.kubernetes.kubeconfig" "the control plane reaches the API server in-cluster")
  (list "proxy.id" "each proxy is named after its pod")
  (list "proxy.bindHost" "the proxy listens on 0.0.0.0")
  (list "proxy.instances" "the DaemonSet runs one proxy per node")
  (list "proxy.admin" "set proxy.adminPort")
  (list "proxy.mediaAddress" "media binds 0.0.0.0; camera hops use the pod IP")
  (list "proxy.rtpPorts" "set proxy.rtpPorts")
  (list "proxy.rtsp.listen" "set proxy.rtspPort")
  (list "proxy.workers" "set proxy.workers")
  (list "proxy.identity" "the proxy's identity is its ServiceAccount")
  (list "signaling.id" "each signaling node is named after its pod")
  (list "signaling.bindHost" "each signaling node binds its pod IP")
  (list "signaling.instances" "set signaling.replicas")
  (list "signaling.admin" "set signaling.adminPort")
  (list "signaling.listen" "set signaling.listenPort")
  (list "signaling.cascade.listen" "set signaling.cascadePort")
  (list "signaling.rtcListenIp" "each signaling node binds its pod IP")
  (list "signaling.rtcPorts" "set signaling.rtcPorts")
  (list "signaling.announcedAddress" "set signaling.announcedAddress")
  (list "signaling.workers" "set signaling.workers")
  (list "signaling.identity" "the signaling node's identity is its ServiceAccount")
-}}
{{- range $entry := $owned -}}
{{- $node := $user -}}
{{- $found := true -}}
{{- range $key := splitList "." (index $entry 0) -}}
{{- if and $found (kindIs "map" $node) (hasKey $node $key) -}}
{{- $node = index $node $key -}}
{{- else -}}
{{- $found = false -}}
{{- end -}}
{{- end -}}
{{- if $found -}}
{{- fail (printf "config.%s is set by the chart (%s): remove it from config" (index $entry 0) (index $entry 1)) -}}
{{- end -}}
{{- end -}}
{{- $ns := .Release.Namespace -}}
{{- $full := include "streammesh.fullname" . -}}
{{- $forced := dict
  "controlPlane" (dict
    "registry" "kubernetes"
    "admin" "0.0.0.0:15100"
    "grpc" "0.0.0.0:15101"
    "address" (printf "%s-control-plane.%s.svc:15101" $full $ns)
    "bootstrapTokenFile" (include "streammesh.tokenFile" .)
    "trustBundleFile" (include "streammesh.trustBundleFile" .)
    "kubernetes" (dict "namespace" $ns))
  "proxy" (dict
    "admin" (printf "0.0.0.0:%d" (int .Values.proxy.adminPort))
    "mediaAddress" "0.0.0.0"
    "rtpPorts" (dict "start" (int .Values.proxy.rtpPorts.start) "end" (int .Values.proxy.rtpPorts.end))
    "rtsp" (dict "listen" (printf "0.0.0.0:%d" (int .Values.proxy.rtspPort)))
    "identity" (dict "namespace" $ns "serviceAccount" (include "streammesh.serviceAccount" (list . "proxy"))))
  "signaling" (dict
    "admin" (printf "0.0.0.0:%d" (int .Values.signaling.adminPort))
    "listen" (printf "0.0.0.0:%d" (int .Values.signaling.listenPort))
    "cascade" (dict "listen" (printf "0.0.0.0:%d" (int .Values.signaling.cascadePort)))
    "rtcListenIp" "0.0.0.0"
    "rtcPorts" (dict "start" (int .Values.signaling.rtcPorts.start) "end" (int .Values.signaling.rtcPorts.end))
    "workers" (int .Values.signaling.workers)
    "identity" (dict "namespace" $ns "serviceAccount" (include "streammesh.serviceAccount" (list . "signaling"))))
-}}
{{- $merged := mergeOverwrite $user $forced -}}
{{- /* Per-release names of the Lease, the CA Secret and the trust bundle ConfigMap (config may name others). */ -}}
{{- $kube := $merged.controlPlane.kubernetes -}}
{{- $election := default dict $kube.leaderElection -}}
{{- if not (hasKey $election "lease") -}}
{{- $_ := set $election "lease" (printf "%s-control-plane" $full) -}}
{{- end -}}
{{- $_ := set $kube "leaderElection" $election -}}
{{- if not (hasKey $kube "caSecret") -}}
{{- $_ := set $kube "caSecret" (printf "%s-ca" $full) -}}
{{- end -}}
{{- if not (hasKey $kube "trustBundleConfigMap") -}}
{{- $_ := set $kube "trustBundleConfigMap" (printf "%s-trust-bundle" $full) -}}
{{- end -}}
{{- /* HTTP listeners keep their port and listen on every address of the pod. */ -}}
{{- $http := dig "proxy" "http" dict $merged -}}
{{- if and (kindIs "map" $http) (hasKey $http "listeners") -}}
{{- $listeners := list -}}
{{- range $listener := $http.listeners -}}
{{- $port := regexFind "[0-9]+$" (toString $listener.listen) -}}
{{- $listeners = append $listeners (merge (dict "listen" (printf "0.0.0.0:%s" $port)) $listener) -}}
{{- end -}}
{{- $_ := set $http "listeners" $listeners -}}
{{- end -}}
{{- /*
A WHIP/WHEP POST for a room homed on another node is answered 307 with that
node's URL (http://<its address>:<listenPort>): reachable by clients with
host networking (the node's address), not through the pod network, where
clients come in through the Service and the node they reach serves and
cascades instead. config.signaling.cascade.httpRedirect, when set, decides.
*/ -}}
{{- if not (hasKey $merged.signaling.cascade "httpRedirect") -}}
{{- $_ := set $merged.signaling.cascade "httpRedirect" .Values.signaling.hostNetwork -}}
{{- end -}}
{{- /* The SFU pulls cameras from the proxies' RTSP Service, not from its own pod. */ -}}
{{- if not (dig "signaling" "cameras" "rtsp" "" $merged) -}}
{{- $cameras := dig "signaling" "cameras" dict $merged -}}
{{- $_ := set $cameras "rtsp" (printf "rtsp://%s-rtsp.%s.svc:%d" $full $ns (int .Values.proxy.rtspPort)) -}}
{{- $_ := set $merged.signaling "cameras" $cameras -}}
{{- end -}}
{{- toYaml $merged -}}
{{- end -}}

{{/* The rendered config as a dict, for templates that read it (ports, names, timeouts). */}}
{{- define "streammesh.configDict" -}}
{{- include "streammesh.config" . | fromYaml | toJson -}}
{{- end -}}

{{/*
What values.schema.json cannot say (it checks each value alone): checked
here with a message naming the values at fault. Rendered once, by the
ConfigMap.
*/}}
{{- define "streammesh.checks" -}}
{{- $rtp := .Values.proxy.rtpPorts -}}
{{- $rtc := .Values.signaling.rtcPorts -}}
{{- if gt (int $rtp.start) (int $rtp.end) -}}
{{- fail (printf "proxy.rtpPorts: start (%d) must be <= end (%d)" (int $rtp.start) (int $rtp.end)) -}}
{{- end -}}
{{- if ne (mod (int $rtp.start) 2) 0 -}}
{{- fail (printf "proxy.rtpPorts.start (%d) must be even (RTP even, RTCP odd)" (int $rtp.start)) -}}
{{- end -}}
{{- if gt (int $rtc.start) (int $rtc.end) -}}
{{- fail (printf "signaling.rtcPorts: start (%d) must be <= end (%d)" (int $rtc.start) (int $rtc.end)) -}}
{{- end -}}
{{- if and (le (int $rtc.start) (int $rtp.end)) (le (int $rtp.start) (int $rtc.end)) -}}
{{- fail (printf "signaling.rtcPorts %d-%d overlaps proxy.rtpPorts %d-%d: with host networking both bind on the node" (int $rtc.start) (int $rtc.end) (int $rtp.start) (int $rtp.end)) -}}
{{- end -}}
{{- $config := include "streammesh.configDict" . | fromJson -}}
{{- if and (gt (int .Values.controlPlane.replicas) 1) (eq (toString (dig "controlPlane" "kubernetes" "leaderElection" "enabled" true $config)) "false") -}}
{{- fail (printf "config.controlPlane.kubernetes.leaderElection.enabled: false with controlPlane.replicas %d would run %d control planes at once, each serving the nodes: keep leader election on, or set controlPlane.replicas: 1" (int .Values.controlPlane.replicas) (int .Values.controlPlane.replicas)) -}}
{{- end -}}
{{- if eq (toString (dig "controlPlane" "mtls" true $config)) "false" -}}
{{- fail "config.controlPlane.mtls: false cannot run on Kubernetes: the cascade link and the control channel leave loopback, which needs mutual TLS" -}}
{{- end -}}
{{- $proxyDrain := int (dig "proxy" "drainTimeoutSec" 25 $config) -}}
{{- if le (int .Values.proxy.terminationGracePeriodSeconds) $proxyDrain -}}
{{- fail (printf "proxy.terminationGracePeriodSeconds (%d) must be above config.proxy.drainTimeoutSec (%d): the kubelet kills the pod at the grace period" (int .Values.proxy.terminationGracePeriodSeconds) $proxyDrain) -}}
{{- end -}}
{{- $signalingDrain := int (dig "signaling" "drainTimeoutSec" 25 $config) -}}
{{- if le (int .Values.signaling.terminationGracePeriodSeconds) $signalingDrain -}}
{{- fail (printf "signaling.terminationGracePeriodSeconds (%d) must be above config.signaling.drainTimeoutSec (%d): the kubelet kills the pod at the grace period" (int .Values.signaling.terminationGracePeriodSeconds) $signalingDrain) -}}
{{- end -}}
{{- $ports := list (int .Values.proxy.adminPort) (int .Values.proxy.rtspPort) -}}
{{- range $listener := (dig "proxy" "http" "listeners" list $config) -}}
{{- $ports = append $ports (int (regexFind "[0-9]+$" (toString $listener.listen))) -}}
{{- end -}}
{{- if ne (len $ports) (len (uniq $ports)) -}}
{{- fail (printf "the proxy's ports clash: proxy.adminPort, proxy.rtspPort and the ports of config.proxy.http.listeners must differ (got %v)" $ports) -}}
{{- end -}}
{{- if not .Values.discovery.allNamespaces -}}
{{- range $cluster := (dig "proxy" "http" "clusters" list $config) -}}
{{- $namespace := dig "service" "namespace" $.Release.Namespace $cluster -}}
{{- if ne $namespace $.Release.Namespace -}}
{{- fail (printf "config.proxy.http.clusters %s: its service is in namespace %s, which the control plane may read only with discovery.allNamespaces: true" $cluster.name $namespace) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Environment every container gets: (list $ <the admin token's Secret>), the
control plane's for the control plane, the nodes' own for the nodes.
*/}}
{{- define "streammesh.commonEnv" -}}
- name: POD_NAME
  valueFrom: { fieldRef: { fieldPath: metadata.name } }
- name: POD_NAMESPACE
  valueFrom: { fieldRef: { fieldPath: metadata.namespace } }
- name: STREAMMESH_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ index . 1 }}
      key: token
# The state directory (generated files, logs of `up`) is an emptyDir: the
# root filesystem is read-only.
- name: XDG_STATE_HOME
  value: /var/lib/streammesh
{{- end -}}

{{- define "streammesh.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
No fsGroup: with one, the kubelet makes the projected token group-readable,
and streammesh refuses a token file others may read.
*/}}
{{- define "streammesh.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Probes on the admin listener: (list $ <port>). */}}
{{- define "streammesh.probes" -}}
livenessProbe:
  httpGet: { path: /healthz, port: {{ index . 1 }} }
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: { path: /readyz, port: {{ index . 1 }} }
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end -}}

{{- define "streammesh.commonMounts" -}}
- name: config
  mountPath: /etc/streammesh/config.yaml
  subPath: config.yaml
  readOnly: true
- name: state
  mountPath: /var/lib/streammesh
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* Volumes every pod has; nodes add the token and trust bundle (streammesh.nodeVolumes). */}}
{{- define "streammesh.commonVolumes" -}}
- name: config
  configMap:
    name: {{ include "streammesh.fullname" . }}-config
- name: state
  emptyDir: { sizeLimit: 64Mi }
- name: tmp
  emptyDir: { sizeLimit: 64Mi }
{{- end -}}

{{/*
What a node (proxy, signaling) shows the control plane and checks it with:
its ServiceAccount token projected for the mesh's audience (kubelet renews
it before it expires; the node reads the file again for each first
certificate), and the trust bundle the control plane writes (optional: it
exists once the first leader has made the CA).
*/}}
{{- define "streammesh.nodeVolumes" -}}
{{- $config := include "streammesh.configDict" . | fromJson -}}
- name: token
  projected:
    defaultMode: 0400
    sources:
      - serviceAccountToken:
          audience: {{ dig "controlPlane" "kubernetes" "tokenAudience" "streammesh" $config | quote }}
          expirationSeconds: 3600
          path: token
- name: trust
  configMap:
    name: {{ include "streammesh.trustBundleConfigMap" . }}
    optional: true
{{- end -}}

{{- define "streammesh.nodeMounts" -}}
- name: token
  mountPath: /var/run/secrets/streammesh
  readOnly: true
- name: trust
  mountPath: /etc/streammesh/trust
  readOnly: true
{{- end -}}

{{- define "streammesh.podAnnotations" -}}
checksum/config: {{ include "streammesh.config" . | sha256sum }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}
