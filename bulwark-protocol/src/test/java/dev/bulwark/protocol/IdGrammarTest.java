package dev.bulwark.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class IdGrammarTest {

    @ParameterizedTest
    @ValueSource(strings = {"thermo-0001", "A1", "sensor_7.b", "x"})
    void device_ids_in_the_grammar_are_accepted(String id) {
        assertThat(DeviceId.of(id).value()).isEqualTo(id);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "-lead", ".hidden", "a/b", "a+b", "a#", "$SYS", "dev@acme", "dev:1", "a b",
            "caf\u00e9", "%2e%2e", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})
    void device_ids_with_topic_path_or_identity_metacharacters_are_refused(String id) {
        assertThatThrownBy(() -> DeviceId.of(id)).isInstanceOf(InvalidIdException.class);
    }

    @ParameterizedTest
    @ValueSource(strings = {"001a2b3c4d5e", "00-1A-2B-3C-4D-5E", "00_1a_2b_3c_4d_5e", "0011223344556677"})
    void device_ids_that_are_hardware_addresses_are_refused_as_guessable(String id) {
        assertThatThrownBy(() -> DeviceId.of(id))
                .isInstanceOf(InvalidIdException.class)
                .hasMessageContaining("guessable");
    }

    @ParameterizedTest
    @ValueSource(strings = {"a", "Acme", "acme-", "1acme", "ac_me", "acme.io"})
    void tenant_ids_outside_the_grammar_are_refused(String id) {
        assertThatThrownBy(() -> TenantId.of(id)).isInstanceOf(InvalidIdException.class);
    }

    @ParameterizedTest
    @ValueSource(strings = {"acme", "a1", "acme-labs"})
    void tenant_ids_in_the_grammar_are_accepted(String id) {
        assertThat(TenantId.of(id).value()).isEqualTo(id);
    }
}
