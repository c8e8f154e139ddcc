package dev.bulwark.protocol;

/** An identifier that does not follow Bulwark's id grammar. The message is safe to show to the caller. */
public final class InvalidIdException extends IllegalArgumentException {
    private final String field;

    public InvalidIdException(String field, String reason) {
        super(field + " " + reason);
        this.field = field;
    }

    /** The name of the field that held the invalid value. */
    public String field() {
        return field;
    }
}
