package dev.bulwark.device;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The command ids this device has executed, so that it executes each one at most once: a command delivered again
 * (a QoS 1 redelivery after an acknowledgement was lost, or the same command by a second route after the server
 * moved the device's session) is answered with the outcome stored the first time instead of being run again.
 *
 * <p>The last {@value #CAPACITY} ids are kept, oldest first, in {@value #FILE} in the device's state directory
 * (owner-only, replaced atomically and synced before the handler runs), so a restart does not run them again either.
 * An id is stored as {@code running} <em>before</em> its handler runs: a command interrupted by a crash or a power
 * loss is answered "failed: interrupted" when it is delivered again, never run a second time. A result larger than
 * {@value #MAX_KEPT_RESULT} bytes is not kept (the repeat answer keeps the status and says so).
 */
final class ExecutedCommands {
    private static final Logger LOG = LoggerFactory.getLogger(BulwarkDevice.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    static final String FILE = "commands-executed.json";
    static final int CAPACITY = 256;
    static final int MAX_KEPT_RESULT = 4096;
    static final String RUNNING = "running";

    /** A command's stored outcome: {@code running} (its handler had not returned), {@code succeeded} or {@code failed}. */
    record Outcome(String status, JsonNode result) {
    }

    private final Path dir;
    private final Map<String, Outcome> outcomes = new LinkedHashMap<>();

    /** The ids stored in {@code dir} (created on the first write). */
    ExecutedCommands(Path dir) {
        this.dir = dir;
        load();
    }

    /**
     * Records that command {@code id} starts now and returns null, or returns its stored outcome when it was
     * executed (or started) before: then it must not run again.
     */
    synchronized Outcome begin(String id) {
        Outcome previous = outcomes.get(id);
        if (previous != null) {
            return previous;
        }
        put(id, new Outcome(RUNNING, null));
        return null;
    }

    /** Stores the outcome of command {@code id}, which {@link #begin} started. */
    synchronized void finish(String id, boolean succeeded, JsonNode result) {
        String status = succeeded ? "succeeded" : "failed";
        JsonNode kept = result;
        if (result != null && result.toString().length() > MAX_KEPT_RESULT) {
            kept = JSON.createObjectNode().put("reason", "already executed; its result was too large to keep for a repeat");
        }
        put(id, new Outcome(status, kept));
    }

    synchronized int size() {
        return outcomes.size();
    }

    private void put(String id, Outcome o) {
        outcomes.remove(id);
        outcomes.put(id, o);
        Iterator<String> oldest = outcomes.keySet().iterator();
        while (outcomes.size() > CAPACITY) {
            oldest.next();
            oldest.remove();
        }
        save();
    }

    private void save() {
        ObjectNode doc = JSON.createObjectNode();
        doc.put("version", 1);
        ArrayNode list = doc.putArray("commands");
        outcomes.forEach((id, o) -> {
            ObjectNode e = list.addObject().put("id", id).put("status", o.status());
            if (o.result() != null) {
                e.set("result", o.result());
            }
        });
        // the id is on disk before the handler runs: if this write fails the command is not run
        CredentialFiles.writeOwnerOnly(dir, FILE, doc.toString());
    }

    private void load() {
        String text;
        try {
            text = Files.readString(dir.resolve(FILE));
        } catch (NoSuchFileException e) {
            return;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + dir.resolve(FILE), e);
        }
        try {
            for (JsonNode e : JSON.readTree(text).path("commands")) {
                String id = e.path("id").asText("");
                String status = e.path("status").asText("");
                if (!id.isEmpty() && (status.equals(RUNNING) || status.equals("succeeded") || status.equals("failed"))) {
                    outcomes.put(id, new Outcome(status, e.hasNonNull("result") ? e.get("result") : null));
                }
            }
        } catch (IOException e) {
            // a damaged file cannot say which ids ran; start over rather than refuse every command
            LOG.warn("device state file {} is not readable JSON; the executed command ids it held are forgotten", FILE);
        }
    }
}
