package dev.bulwark.server.command;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.device.DeviceLink;
import dev.bulwark.server.device.ForwardingDeviceLink;
import dev.bulwark.server.identity.TenantStore;
import dev.bulwark.server.shadow.ConfigService;
import dev.bulwark.server.shadow.ConfigStore;
import dev.bulwark.server.shadow.LocalConfigDelivery;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.StoreFixture;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * How commands and configuration reach devices: through a delivery given at construction, on a device link
 * bound once to the transport; and the parts that seal what devices send cannot be built without their sealer.
 */
@ParameterizedClass
@EnumSource(value = Backend.class, names = "H2")
class DeliveryWiringTest extends StoreFixture {
    static final TenantId A = TenantId.of(ACME);
    static final DeviceId D = DeviceId.of(DEVICE);

    record Sent(TenantId tenant, DeviceId device, String topic, JsonNode payload, Runnable onAck) {
    }

    /** A transport that accepts everything and remembers it. */
    static final class Recording implements DeviceLink {
        final List<Sent> sent = new ArrayList<>();

        @Override
        public boolean send(TenantId tenant, DeviceId device, String topic, byte[] payload, Runnable onAck) {
            try {
                sent.add(new Sent(tenant, device, topic, new ObjectMapper().readTree(payload), onAck));
            } catch (java.io.IOException e) {
                throw new AssertionError(e);
            }
            return true;
        }
    }

    @Test
    void nothing_is_sent_before_the_link_is_bound_and_it_is_bound_once() {
        ForwardingDeviceLink link = new ForwardingDeviceLink();
        assertThat(link.send(A, D, "t", new byte[0], () -> { })).isFalse();
        Recording transport = new Recording();
        link.bind(transport);
        assertThat(link.send(A, D, "t", "{}".getBytes(), () -> { })).isTrue();
        assertThat(transport.sent).hasSize(1);
        assertThatThrownBy(() -> link.bind(new Recording())).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void a_command_goes_to_the_devices_commands_topic_with_its_id_name_params_and_expiry() {
        Recording transport = new Recording();
        boolean[] acked = {false};
        Command c = new Command(A, "cmd-1", D, "reboot", JsonNodeFactory.instance.objectNode().put("delay", 5), CommandState.QUEUED, 0,
                60_000, null, null, null, "alice");
        assertThat(new LocalCommandDelivery(transport).send(c, () -> acked[0] = true)).isTrue();
        Sent s = transport.sent.get(0);
        assertThat(s.topic()).isEqualTo("devices/dev-1/commands");
        assertThat(s.payload().toString()).isEqualTo("{\"id\":\"cmd-1\",\"name\":\"reboot\",\"params\":{\"delay\":5},"
                + "\"expiresAt\":\"1970-01-01T00:01:00Z\"}");
        s.onAck().run();
        assertThat(acked[0]).as("the device's acknowledgement reaches the caller").isTrue();
    }

    @Test
    void a_desired_configuration_goes_to_config_desired_with_its_version() {
        Recording transport = new Recording();
        assertThat(new LocalConfigDelivery(transport).push(A, D, JsonNodeFactory.instance.objectNode().put("interval", 60), 3)).isTrue();
        assertThat(transport.sent.get(0).topic()).isEqualTo("devices/dev-1/config/desired");
        assertThat(transport.sent.get(0).payload().toString()).isEqualTo("{\"version\":3,\"desired\":{\"interval\":60}}");
    }

    @Test
    void the_services_that_seal_what_devices_send_are_never_built_without_their_sealer() {
        Recording transport = new Recording();
        assertThatThrownBy(() -> new ConfigService(db, Clock.SYSTEM, new ConfigStore(), null, new LocalConfigDelivery(transport)))
                .isInstanceOf(NullPointerException.class).hasMessageContaining("sealed");
        assertThatThrownBy(() -> new CommandService(db, Clock.SYSTEM, new CommandStore(), new TenantStore(), null,
                new LocalCommandDelivery(transport))).isInstanceOf(NullPointerException.class).hasMessageContaining("sealed");
    }
}
