package dev.bulwark.server.mqtt;

import dev.bulwark.server.ingress.Admission;
import io.netty.handler.codec.mqtt.MqttConnectReturnCode;
import io.vertx.mqtt.messages.codes.MqttDisconnectReasonCode;

/**
 * What a device observes of an {@link Admission.Refused} over MQTT. A PUBLISH refused: MQTT 5 gets a DISCONNECT
 * with the reason code below, then the connection closes; MQTT 3.1.1 has no DISCONNECT from the server, so the
 * connection is closed. A Will refused at CONNECT: MQTT 5 gets the CONNACK reason code below, MQTT 3.1.1 the
 * CONNACK "not authorized" (0x05) whatever the reason, as before the gate existed.
 */
final class MqttCodes {
    private MqttCodes() {
    }

    /** The MQTT 5 DISCONNECT reason code of a refused PUBLISH. */
    static MqttDisconnectReasonCode disconnect(Admission.Reason reason) {
        return switch (reason) {
            case WILDCARD_TOPIC -> MqttDisconnectReasonCode.TOPIC_NAME_INVALID;         // 0x90
            case FORBIDDEN_TOPIC -> MqttDisconnectReasonCode.NOT_AUTHORIZED;            // 0x87
            case RETAINED -> MqttDisconnectReasonCode.RETAIN_NOT_SUPPORTED;             // 0x9A
            case UNSUPPORTED_QOS -> MqttDisconnectReasonCode.QOS_NOT_SUPPORTED;         // 0x9B
            case PAYLOAD_TOO_LARGE -> MqttDisconnectReasonCode.PACKET_TOO_LARGE;        // 0x95
            case PAYLOAD_INVALID -> MqttDisconnectReasonCode.PAYLOAD_FORMAT_INVALID;    // 0x99
            case DEVICE_RATE -> MqttDisconnectReasonCode.MESSAGE_RATE_TOO_HIGH;         // 0x96
            case TENANT_QUOTA -> MqttDisconnectReasonCode.QUOTA_EXCEEDED;               // 0x97
            case WRITER_SATURATED -> MqttDisconnectReasonCode.SERVER_BUSY;              // 0x89
            case NOT_STORED -> MqttDisconnectReasonCode.UNSPECIFIED_ERROR;              // 0x80
        };
    }

    /** The CONNACK of a CONNECT whose Will is refused (only reasons that follow from the message alone occur). */
    static MqttConnectReturnCode connack(Admission.Reason reason, boolean v5) {
        if (!v5) {
            return MqttConnectReturnCode.CONNECTION_REFUSED_NOT_AUTHORIZED;
        }
        return switch (reason) {
            case WILDCARD_TOPIC -> MqttConnectReturnCode.CONNECTION_REFUSED_TOPIC_NAME_INVALID;
            case RETAINED -> MqttConnectReturnCode.CONNECTION_REFUSED_RETAIN_NOT_SUPPORTED;
            case UNSUPPORTED_QOS -> MqttConnectReturnCode.CONNECTION_REFUSED_QOS_NOT_SUPPORTED;
            case PAYLOAD_TOO_LARGE -> MqttConnectReturnCode.CONNECTION_REFUSED_PACKET_TOO_LARGE;
            case PAYLOAD_INVALID -> MqttConnectReturnCode.CONNECTION_REFUSED_PAYLOAD_FORMAT_INVALID;
            default -> MqttConnectReturnCode.CONNECTION_REFUSED_NOT_AUTHORIZED_5;
        };
    }
}
