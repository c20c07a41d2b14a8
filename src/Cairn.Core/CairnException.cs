namespace Cairn.Core;

/// <summary>What kind of failure an operation hit; APIs map it to their own status codes.</summary>
public enum ErrorKind
{
    /// <summary>The request is malformed or names something invalid.</summary>
    InvalidArgument,
    /// <summary>The named object does not exist.</summary>
    NotFound,
    /// <summary>An object with that name exists already.</summary>
    AlreadyExists,
    /// <summary>The object is in use (dependents, sessions, state) and the operation is refused.</summary>
    Conflict,
    /// <summary>Not enough space in the pool.</summary>
    NoSpace,
    /// <summary>Access denied.</summary>
    Forbidden,
    /// <summary>The caller is not authenticated: no credentials, or credentials (a password, a token) that do not hold.</summary>
    Unauthorized,
    /// <summary>The operation is not supported by this engine or object.</summary>
    NotSupported,
    /// <summary>Anything else: a bug or an I/O fault.</summary>
    Internal,
}

/// <summary>An expected failure with a one-line, user-facing reason. Never carries secrets.</summary>
public class CairnException(ErrorKind kind, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The kind of failure.</summary>
    public ErrorKind Kind { get; } = kind;

    public static CairnException Invalid(string message) => new(ErrorKind.InvalidArgument, message);
    public static CairnException NotFound(string message) => new(ErrorKind.NotFound, message);
    public static CairnException Exists(string message) => new(ErrorKind.AlreadyExists, message);
    public static CairnException Conflict(string message) => new(ErrorKind.Conflict, message);
    public static CairnException Unauthorized(string message) => new(ErrorKind.Unauthorized, message);
    public static CairnException Forbidden(string message) => new(ErrorKind.Forbidden, message);
}
