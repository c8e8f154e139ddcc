package dev.bulwark.server.mqtt;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.InvalidIdException;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.config.ServerConfig;
import dev.bulwark.server.crypto.BearerSecret;
import dev.bulwark.server.device.DevicePrincipal;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.mqtt.MqttConnectMessage;
import io.netty.handler.codec.mqtt.MqttDecoder;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttPublishMessage;
import io.netty.handler.codec.mqtt.MqttSubscribeMessage;
import io.netty.handler.codec.mqtt.MqttTopicSubscription;
import io.netty.handler.codec.mqtt.MqttUnsubscribeMessage;
import io.netty.util.ReferenceCountUtil;
import io.vertx.mqtt.MqttServerOptions;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing of what a client's bytes go through on the device MQTT listener before any
 * Bulwark state is touched: Netty's {@link MqttDecoder} with the limits vertx-mqtt gives it for our listener
 * ({@code MqttServerImpl.initChannel}: {@code new MqttDecoder(maxMessageSize, maxClientIdLength)}, with the
 * options {@link MqttListener#start} sets), then Bulwark's own checks of what was decoded: the user name
 * grammar {@code device@tenant} and the token shape (as {@code DeviceAuthenticator.byToken} parses them), the
 * client id grammar, and {@link TopicAuthorizer} for the Will, PUBLISH and SUBSCRIBE/UNSUBSCRIBE topics.
 *
 * <p>Contract: the decoder never throws out of the pipeline and flags a malformed packet with a
 * {@link DecoderException} (or an {@link IllegalArgumentException} naming the bad field) in its decoder result;
 * it never hands over a payload larger than the configured maximum; Bulwark's checks either accept or refuse
 * with {@link InvalidIdException} / a {@link TopicAuthorizer.Decision.Declined}, and never authorize a topic
 * outside the device's own namespace. Inputs may hold several packets (a CONNECT, then anything).
 */
class MqttDecodingFuzzTest {
    static final MqttServerOptions OPTIONS = new MqttServerOptions()
            .setMaxMessageSize(ServerConfig.builder().build().maxPayloadBytes() + 64 * 1024)
            .setTimeoutOnConnect(10)
            .setAutoClientId(false);
    static final DevicePrincipal DEVICE = new DevicePrincipal(TenantId.of("acme"), DeviceId.of("thermo-0001"), "token:fuzz");
    static final Set<String> PUBLISH_KINDS = Set.of("telemetry", "events", "config-reported", "command-result");
    static final Set<String> SUBSCRIBE_KINDS = Set.of("config/desired", "commands", "firmware");

    @FuzzTest(maxDuration = "10s")
    @Timeout(5)
    void client_bytes_are_decoded_or_refused_and_never_reach_another_namespace(byte[] data) {
        EmbeddedChannel ch = new EmbeddedChannel(new MqttDecoder(OPTIONS.getMaxMessageSize(), OPTIONS.getMaxClientIdLength()));
        try {
            ch.writeInbound(Unpooled.wrappedBuffer(data)); // throws if the decoder let an exception escape
            for (Object o; (o = ch.readInbound()) != null; ) {
                try {
                    check((MqttMessage) o);
                } finally {
                    ReferenceCountUtil.release(o);
                }
            }
        } finally {
            ch.finishAndReleaseAll();
        }
    }

    static void check(MqttMessage m) {
        if (m.decoderResult().isFailure()) {
            Throwable cause = m.decoderResult().cause();
            assertThat(cause).isInstanceOfAny(DecoderException.class, IllegalArgumentException.class);
            assertThat(cause.getMessage()).isNotBlank();
            return;
        }
        if (m instanceof MqttConnectMessage c) {
            String clientId = c.payload().clientIdentifier();
            assertThat(clientId).isNotNull();
            if (c.variableHeader().version() == 3) { // MQTT 3.1 caps the client id; 3.1.1 and 5 let the server decide
                assertThat(clientId.length()).isLessThanOrEqualTo(OPTIONS.getMaxClientIdLength());
            }
            assertThat(clientId).doesNotContain("\u0000");
            if (!clientId.isEmpty()) {
                grammar(() -> DeviceId.of(clientId));
            }
            String user = c.payload().userName();
            if (user != null) {
                int at = user.lastIndexOf('@');
                if (at > 0) {
                    grammar(() -> DeviceId.of(user.substring(0, at)));
                    grammar(() -> TenantId.of(user.substring(at + 1)));
                }
            }
            byte[] password = c.payload().passwordInBytes();
            if (password != null) {
                assertThat(BearerSecret.parse(BearerSecret.DEVICE, new String(password, StandardCharsets.UTF_8))).isNotNull();
            }
            if (c.variableHeader().isWillFlag()) {
                publish(c.payload().willTopic(), c.variableHeader().isWillRetain());
            }
        } else if (m instanceof MqttPublishMessage p) {
            assertThat(p.payload().readableBytes()).isLessThanOrEqualTo(OPTIONS.getMaxMessageSize());
            publish(p.variableHeader().topicName(), p.fixedHeader().isRetain());
        } else if (m instanceof MqttSubscribeMessage s) {
            for (MqttTopicSubscription t : s.payload().topicSubscriptions()) {
                subscribe(t.topicFilter());
            }
        } else if (m instanceof MqttUnsubscribeMessage u) {
            u.payload().topics().forEach(MqttDecodingFuzzTest::subscribe);
        }
    }

    static void publish(String topic, boolean retain) {
        TopicAuthorizer.Decision d = TopicAuthorizer.publish(DEVICE, topic, retain);
        if (d instanceof TopicAuthorizer.Decision.Allowed a) {
            assertThat(a.kind()).isIn(PUBLISH_KINDS);
            assertThat(topic).startsWith("devices/thermo-0001/").doesNotContain("+", "#", "\u0000");
            assertThat(retain).isFalse();
        } else {
            assertThat(((TopicAuthorizer.Decision.Declined) d).reason()).isNotBlank();
        }
    }

    static void subscribe(String filter) {
        TopicAuthorizer.Decision d = TopicAuthorizer.subscribe(DEVICE, filter);
        if (d instanceof TopicAuthorizer.Decision.Allowed a) {
            assertThat(a.kind()).isIn(SUBSCRIBE_KINDS);
            assertThat(filter).isEqualTo("devices/thermo-0001/" + a.kind());
        } else {
            assertThat(((TopicAuthorizer.Decision.Declined) d).reason()).isNotBlank();
        }
    }

    static void grammar(Runnable parse) {
        try {
            parse.run();
        } catch (InvalidIdException refused) {
            assertThat(refused.getMessage()).isNotBlank();
        }
    }
}
