package dev.bulwark.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The MQTT addresses a device accepts: one or several, each {@code ssl://host:port}, none twice. */
class MqttEndpointsTest {
    private static final URI A = URI.create("ssl://node-a.example:8883");
    private static final URI B = URI.create("ssl://node-b.example:8883");

    @Test
    void one_or_several_tls_addresses_are_kept_in_order() {
        assertEquals(List.of(A), BulwarkDevice.Builder.endpoints(List.of(A)));
        assertEquals(List.of(B, A), BulwarkDevice.Builder.endpoints(List.of(B, A)));
    }

    @Test
    void an_address_that_is_not_mqtt_over_tls_or_lacks_a_port_is_refused_with_the_reason() {
        assertTrue(refusal(List.of(A, URI.create("tcp://node-c.example:1883"))).contains("MQTT over TLS only"));
        assertTrue(refusal(List.of(URI.create("ssl://node-c.example"))).contains("a host and a port"));
        assertTrue(refusal(List.of()).contains("at least one"));
        assertTrue(refusal(Arrays.asList(A, null)).contains("missing"));
        assertTrue(refusal(List.of(A, B, A)).contains("given twice"));
    }

    private static String refusal(List<URI> uris) {
        return assertThrows(IllegalArgumentException.class, () -> BulwarkDevice.Builder.endpoints(uris)).getMessage();
    }
}
