package dev.bulwark.server.api;

import static dev.bulwark.server.identity.Role.OWNER;

import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.http.Call;

/** Owner ids in paths and bodies, and who may act on an owner's account. */
final class OwnerIds {
    private OwnerIds() {
    }

    /** An owner id ({@code ow-} and 16 hex digits); anything else is a 404. */
    static String ownerId(String v) {
        if (v == null || !v.matches("ow-[0-9a-f]{16}")) {
            throw Refusal.notFound();
        }
        return v;
    }

    /** An owner may act on their own account only; operators of the tenant on any. */
    static void mayAct(Call call, String ownerId) {
        if (call.principal().roles().contains(OWNER) && !call.principal().name().equals(ownerId)) {
            throw Refusal.notFound();
        }
    }
}
