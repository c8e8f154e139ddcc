package dev.bulwark.server.ingress;

import dev.bulwark.protocol.DeviceNamespace;
import dev.bulwark.protocol.DeviceTopic;
import dev.bulwark.protocol.TopicParse;

/**
 * May this device publish to this topic: its own namespace, an upstream topic, never retained. The one
 * authorization of every path that publishes on a device's behalf (PUBLISH, Will, HTTPS).
 */
public final class TopicAuthorization {
    static final Admission.Refused EMPTY = new Admission.Refused(Admission.Reason.FORBIDDEN_TOPIC, "empty topic");
    static final Admission.Refused WILDCARD = new Admission.Refused(Admission.Reason.WILDCARD_TOPIC, "wildcard in a publish topic");
    static final Admission.Refused RETAINED = new Admission.Refused(Admission.Reason.RETAINED,
            "retained messages from devices are not accepted");
    static final Admission.Refused OUTSIDE = new Admission.Refused(Admission.Reason.FORBIDDEN_TOPIC,
            "topic outside the device's own namespace");
    static final Admission.Refused NOT_UPSTREAM = new Admission.Refused(Admission.Reason.FORBIDDEN_TOPIC,
            "the device may not publish to this topic");

    private TopicAuthorization() {
    }

    /** Null when the device behind {@code own} may publish to {@code parsed}; else why not. */
    public static Admission.Refused publish(DeviceNamespace own, TopicParse parsed, boolean retain) {
        if (parsed instanceof TopicParse.Refused r && r.problem() == TopicParse.Problem.EMPTY) {
            return EMPTY;
        }
        if (parsed instanceof TopicParse.Refused r && r.problem() == TopicParse.Problem.WILDCARD) {
            return WILDCARD;
        }
        if (retain) {
            return RETAINED;
        }
        if (!own.owns(parsed)) {
            return OUTSIDE;
        }
        return parsed instanceof DeviceTopic.Upstream ? null : NOT_UPSTREAM;
    }
}
