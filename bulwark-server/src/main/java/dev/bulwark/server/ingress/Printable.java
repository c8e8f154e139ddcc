package dev.bulwark.server.ingress;

/** Text from a device made fit for a security event: printable ASCII, at most 100 characters. */
public final class Printable {
    private Printable() {
    }

    public static String clip(String s) {
        if (s == null) {
            return "";
        }
        String printable = s.replaceAll("[^\\x20-\\x7e]", "?");
        return printable.length() > 100 ? printable.substring(0, 100) : printable;
    }
}
