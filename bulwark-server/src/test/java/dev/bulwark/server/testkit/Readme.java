package dev.bulwark.server.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The project's README, for the tests that run its snippets exactly as printed. */
public final class Readme {
    private Readme() {
    }

    /** The README at the root of the repository (the test runs in one of its modules). */
    public static Path path() {
        String module = System.getenv("BULWARK_TEST_MODULE_DIR");
        return (module == null ? Path.of("..") : Path.of(module).getParent()).resolve("README.md");
    }

    public static String text() {
        try {
            return Files.readString(path());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The one {@code ```lang} block of the README that contains {@code marker}. */
    public static String block(String lang, String marker) {
        Matcher m = Pattern.compile("```" + Pattern.quote(lang) + "\n(.*?)```", Pattern.DOTALL).matcher(text());
        List<String> found = new ArrayList<>();
        while (m.find()) {
            if (m.group(1).contains(marker)) {
                found.add(m.group(1));
            }
        }
        assertThat(found).as("README %s blocks containing %s", lang, marker).hasSize(1);
        return found.get(0);
    }
}
