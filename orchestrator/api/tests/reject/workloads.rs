//! Pod specs, rolling updates, Services, unsupported fields.

use super::*;

#[test]
fn pod_spec_checks() {
    let two = deploy(
        "      containers:\n",
        "      containers:\n      - name: web\n        image: busybox\n",
    );
    assert_eq!(
        error(&two),
        format!("{AT}spec.template.spec.containers[1].name: Duplicate value: \"web\"")
    );
    assert_eq!(
        error(&deploy(
            "        resources:",
            "        volumeMounts:\n        - {name: data, mountPath: /data}\n        resources:"
        )),
        format!("{AT}spec.template.spec.containers[0].volumeMounts[0].name: Not found: \"data\"")
    );
    assert_eq!(
        error(&deploy(
            "        resources:",
            "        livenessProbe:\n          httpGet: {port: metrics}\n          exec: {command: [x]}\n          successThreshold: 2\n        readinessProbe: {periodSeconds: 5}\n        resources:"
        )),
        format!(
            "{AT}4 errors:\n\
             * spec.template.spec.containers[0].livenessProbe.httpGet: Forbidden: may not specify more than 1 handler type\n\
             * spec.template.spec.containers[0].livenessProbe.httpGet.port: Not found: \"metrics\"\n\
             * spec.template.spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1\n\
             * spec.template.spec.containers[0].readinessProbe: Required value: must specify a handler type"
        )
    );
    assert_eq!(
        error(&deploy(
            "        resources:",
            "        env:\n        - name: A\n          valueFrom:\n            configMapKeyRef: {name: c, key: k}\n            secretKeyRef: {name: s, key: k}\n        resources:"
        )),
        format!(
            "{AT}spec.template.spec.containers[0].env[0].valueFrom: Invalid value: \"\": may not have more than one field specified at a time"
        )
    );
    assert_eq!(
        error(&deploy(
            "memory: 128Mi",
            "memory: 128Mi\n          requests:\n            memory: 1Gi"
        )),
        format!(
            "{AT}spec.template.spec.containers[0].resources.requests[memory]: Invalid value: \"1Gi\": must be less than or equal to memory limit of 128Mi"
        )
    );
    assert_eq!(
        error(&deploy("memory: 128Mi", "nvidia.com/gpu: 1")),
        format!(
            "{AT}2 errors:\n\
             * spec.template.spec.containers[0].resources.limits[nvidia.com/gpu]: Unsupported value: \"nvidia.com/gpu\": supported values: \"cpu\", \"ephemeral-storage\", \"memory\"\n\
             * spec.template.spec.containers[0].resources.requests[nvidia.com/gpu]: Unsupported value: \"nvidia.com/gpu\": supported values: \"cpu\", \"ephemeral-storage\", \"memory\""
        )
    );
    assert_eq!(
        error(&deploy(
            "      containers:",
            "      restartPolicy: OnFailure\n      containers:"
        )),
        format!(
            "{AT}spec.template.spec.restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\""
        )
    );
    assert_eq!(
        error(&deploy(
            "      containers:",
            "      restartPolicy: Sometimes\n      containers:"
        )),
        format!(
            "{AT}spec.template.spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"Never\", \"OnFailure\""
        )
    );
    assert_eq!(
        error(&deploy(
            "containerPort: 80",
            "containerPort: 80\n        - name: http\n          containerPort: 8080"
        )),
        format!("{AT}spec.template.spec.containers[0].ports[1].name: Duplicate value: \"http\"")
    );
    assert_eq!(
        error(&deploy(
            "      containers:",
            "      volumes:\n      - name: data\n        emptyDir: {}\n        configMap: {name: c}\n      containers:"
        )),
        format!(
            "{AT}spec.template.spec.volumes[0].configMap: Forbidden: may not specify more than 1 volume type"
        )
    );
}

#[test]
fn rolling_update_bounds() {
    let strategy = |s: &str| deploy("  template:", &format!("  strategy:\n{s}  template:"));
    assert_eq!(
        error(&strategy(
            "    rollingUpdate: {maxSurge: 0, maxUnavailable: 0}\n"
        )),
        format!(
            "{AT}spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"
        )
    );
    assert_eq!(
        error(&strategy(
            "    rollingUpdate: {maxSurge: abc, maxUnavailable: 120%}\n"
        )),
        format!(
            "{AT}2 errors:\n\
             * spec.strategy.rollingUpdate.maxSurge: Invalid value: \"abc\": a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')\n\
             * spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"120%\": must not be greater than 100%"
        )
    );
    assert_eq!(
        error(&strategy(
            "    type: Recreate\n    rollingUpdate: {maxSurge: 1}\n"
        )),
        format!(
            "{AT}spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
        )
    );
}

#[test]
fn service_checks() {
    let ports = service(
        "  - port: 80\n    targetPort: http\n",
        "  - {name: http, port: 80, targetPort: http}\n  - {name: http, port: 70000, targetPort: HTTP_PORT}\n  - {port: 80}\n",
    );
    assert_eq!(
        error(&ports),
        format!(
            "{SVC_AT}6 errors:\n\
             * spec.ports[1].name: Duplicate value: \"http\"\n\
             * spec.ports[1].port: Invalid value: 70000: must be between 1 and 65535, inclusive\n\
             * spec.ports[1].targetPort: Invalid value: \"HTTP_PORT\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)\n\
             * spec.ports[1].targetPort: Invalid value: \"HTTP_PORT\": must contain at least one letter (a-z)\n\
             * spec.ports[2].name: Required value\n\
             * spec.ports[2]: Duplicate value: \"80/TCP\""
        )
    );
    assert_eq!(
        error(&service(
            "spec:\n",
            "spec:\n  type: ExternalName\n  clusterIP: 10.96.0.20\n"
        )),
        format!(
            "{SVC_AT}2 errors:\n\
             * spec.clusterIP: Forbidden: may not be set for ExternalName services\n\
             * spec.externalName: Required value"
        )
    );
    assert_eq!(
        error(&service(
            "spec:\n",
            "spec:\n  type: NodePort\n  clusterIP: None\n"
        )),
        format!(
            "{SVC_AT}spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"
        )
    );
    assert_eq!(
        error(&service(
            "targetPort: http",
            "targetPort: http\n    nodePort: 30080"
        )),
        format!(
            "{SVC_AT}spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
        )
    );
    assert_eq!(
        error(&service(
            "spec:\n",
            "spec:\n  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 90000}}\n"
        )),
        format!(
            "{SVC_AT}spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 90000: must be greater than 0 and less than 86400"
        )
    );
    assert_eq!(
        error(&service("spec:\n", "spec:\n  type: Foo\n")),
        format!(
            "{SVC_AT}spec.type: Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""
        )
    );
    assert_eq!(
        error(&service("spec:\n", "spec:\n  clusterIP: 10.96.0.300\n")),
        format!(
            "{SVC_AT}spec.clusterIP: Invalid value: \"10.96.0.300\": must be empty, 'None', or a valid IP address"
        )
    );
    assert_eq!(
        error(&service("spec:\n", "spec:\n  ipFamilies: [IPv4, IPv6]\n")),
        format!(
            "{SVC_AT}spec.ipFamilyPolicy: Invalid value: \"SingleStack\": must be RequireDualStack or PreferDualStack when multiple 'ipFamilies' are specified"
        )
    );
    assert_eq!(
        error(&service(
            "  ports:\n  - port: 80\n    targetPort: http\n",
            ""
        )),
        format!("{SVC_AT}spec.ports: Required value")
    );
}

#[test]
fn unsupported_fields_are_rejected_or_tolerated_with_a_warning() {
    assert_eq!(
        error(&deploy(
            "      containers:",
            "      affinity:\n        podAntiAffinity: {}\n      initContainers:\n      - {name: init, image: busybox}\n      containers:"
        )),
        format!(
            "{AT}2 errors:\n\
             * spec.template.spec.affinity: Forbidden: not supported by Berth (use nodeSelector)\n\
             * spec.template.spec.initContainers: Forbidden: not supported by Berth"
        )
    );
    assert_eq!(
        error(&service(
            "spec:\n",
            "spec:\n  internalTrafficPolicy: Local\n"
        )),
        format!(
            "{SVC_AT}spec.internalTrafficPolicy: Forbidden: not supported by Berth (traffic goes to endpoints on every node)"
        )
    );
    let tolerated = deploy(
        "      containers:",
        "      schedulerName: default-scheduler\n      securityContext: {}\n      imagePullSecrets:\n      - {name: registry}\n      containers:",
    );
    let docs = manifest::parse_str(&tolerated, "deploy.yaml", &ParseOptions::default()).unwrap();
    assert_eq!(
        docs[0].warnings,
        [
            "spec.template.spec.imagePullSecrets: ignored: Berth imports images instead of pulling them"
        ]
    );

    // What manifests tolerate, the strict decoding of stored objects does not.
    let stored = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "x", "terminationMessagePath": "/dev/termination-log"}]}
    });
    assert_eq!(
        Object::from_value(stored).unwrap_err().to_string(),
        "spec.containers[0].terminationMessagePath: unknown field"
    );
}
