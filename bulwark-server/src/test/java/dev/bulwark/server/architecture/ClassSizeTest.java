package dev.bulwark.server.architecture;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * No main source file of any module grows past {@value #MAX_LINES} lines: a class that big has seams to be
 * split along (the limit leaves room above the ~400 lines we aim for).
 */
class ClassSizeTest {
    static final int MAX_LINES = 450;

    @Test
    void no_main_source_file_is_longer_than_the_limit() throws IOException {
        Path root = Path.of("..").toAbsolutePath().normalize();
        List<Path> sources;
        try (Stream<Path> modules = Files.list(root)) {
            sources = modules.filter(m -> m.getFileName().toString().startsWith("bulwark-"))
                    .map(m -> m.resolve("src/main/java")).filter(Files::isDirectory)
                    .flatMap(ClassSizeTest::javaFiles).toList();
        }
        assertThat(sources).as("main sources found under " + root).hasSizeGreaterThan(100);
        List<String> tooLong = sources.stream().filter(f -> lines(f) > MAX_LINES)
                .map(f -> root.relativize(f) + " (" + lines(f) + " lines)").toList();
        assertThat(tooLong).as("main source files longer than " + MAX_LINES + " lines").isEmpty();
    }

    private static Stream<Path> javaFiles(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(p -> p.toString().endsWith(".java")).toList().stream();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static long lines(Path f) {
        try (Stream<String> s = Files.lines(f)) {
            return s.count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
