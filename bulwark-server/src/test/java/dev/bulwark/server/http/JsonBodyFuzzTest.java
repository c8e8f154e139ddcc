package dev.bulwark.server.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.server.core.Refusal;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing of the operator API's JSON body checks ({@link Call#body}: the strict mapper of
 * {@link Json}) for every request type a route reads. The first byte of an input picks the type (index into
 * {@link #TYPES}, modulo its size: keep the order, the corpus depends on it), the rest is the body.
 *
 * <p>Contract: a body becomes a request record or is refused with a {@link Refusal} of kind {@code MALFORMED}
 * whose reason is short printable ASCII (it is shown to the caller and written to the audit log); unknown
 * fields, wrong types, duplicate keys, deep nesting and huge numbers are refusals, never another exception.
 */
class JsonBodyFuzzTest {
    static final List<Class<?>> TYPES = types(
            "dev.bulwark.server.api.IdentityRoutes$CreateTenant",
            "dev.bulwark.server.api.IdentityRoutes$CreateOperator",
            "dev.bulwark.server.api.IdentityRoutes$CreateToken",
            "dev.bulwark.server.api.CaRoutes$RegisterCa",
            "dev.bulwark.server.api.CommandRoutes$CreateCommand",
            "dev.bulwark.server.api.MonitorRoutes$NewWebhook",
            "dev.bulwark.server.api.FirmwareRoutes$NewRollout",
            "dev.bulwark.server.api.ShadowRoutes$AllowCommand",
            "dev.bulwark.server.api.ShadowRoutes$CreateModel",
            "dev.bulwark.server.api.DeviceRoutes$CreateDevice",
            "dev.bulwark.server.api.DeviceCredentialRoutes$IssueCertificate",
            "dev.bulwark.server.api.DeviceRoutes$Quarantine",
            "dev.bulwark.server.api.DataRoutes$Retention",
            "dev.bulwark.server.api.OwnerRoutes$NewOwner",
            "dev.bulwark.server.api.TransferRoutes$Transfer",
            "com.fasterxml.jackson.databind.JsonNode");

    @FuzzTest(maxDuration = "10s")
    @Timeout(5)
    void a_request_body_becomes_a_request_or_a_malformed_request_refusal(byte[] data) {
        if (data.length == 0) {
            return;
        }
        Class<?> type = TYPES.get(Byte.toUnsignedInt(data[0]) % TYPES.size());
        byte[] body = Arrays.copyOfRange(data, 1, data.length);
        try {
            Object value = Call.decode(body, type);
            assertThat(value).isNotNull();
            if (value instanceof JsonNode n) {
                assertThat(n.isMissingNode()).isFalse();
            }
        } catch (Refusal refused) {
            assertThat(refused.kind()).isEqualTo(Refusal.Kind.MALFORMED);
            assertThat(refused.reason()).isNotBlank().hasSizeLessThan(1000).matches("[\\x20-\\x7e]*");
        }
    }

    private static List<Class<?>> types(String... names) {
        return Arrays.stream(names).<Class<?>>map(n -> {
            try {
                return Class.forName(n);
            } catch (ClassNotFoundException e) {
                throw new IllegalStateException("a request type moved: " + n, e);
            }
        }).toList();
    }
}
