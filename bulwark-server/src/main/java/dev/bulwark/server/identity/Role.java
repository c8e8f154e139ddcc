package dev.bulwark.server.identity;

import dev.bulwark.server.core.Refusal;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;

/** Operator roles. Persisted by {@link #wireName()}, never by ordinal. */
public enum Role {
    /** Manages tenants and the platform; reads no tenant data. */
    PLATFORM_ADMIN,
    /** Everything within one tenant, including its operators and CAs. */
    TENANT_ADMIN,
    /** Registers, configures and commands devices; issues device credentials. */
    FLEET_OPERATOR,
    /** Reads security events and the audit log; contains incidents (disable, revoke). */
    SECURITY_ANALYST,
    /** Publishes signed firmware. */
    FIRMWARE_PUBLISHER,
    /** Read-only access to the tenant's registry and audit log. */
    AUDITOR,
    /** An owner of devices: their own devices' data within their ownership periods, nothing else. Given only with an owner account. */
    OWNER;

    public static final Set<Role> TENANT_ROLES = EnumSet.complementOf(EnumSet.of(PLATFORM_ADMIN));

    public String wireName() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    public static Role fromWire(String s) {
        for (Role r : values()) {
            if (r.wireName().equals(s)) {
                return r;
            }
        }
        throw Refusal.invalid("unknown role; known roles: "
                + Arrays.stream(values()).map(Role::wireName).collect(Collectors.joining(", ")));
    }

    public static String encode(Set<Role> roles) {
        return roles.stream().sorted().map(Role::wireName).collect(Collectors.joining(","));
    }

    public static Set<Role> decode(String s) {
        EnumSet<Role> roles = EnumSet.noneOf(Role.class);
        for (String part : s.split(",")) {
            if (!part.isEmpty()) {
                roles.add(fromWire(part));
            }
        }
        return roles;
    }
}
