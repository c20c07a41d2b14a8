using System.Text.RegularExpressions;
using Cairn.Core;
using Microsoft.AspNetCore.Connections;

namespace Cairn.Api;

/// <summary>An error answer before its API shapes it: HTTP status, snake_case code, one-line client-safe message.</summary>
/// <param name="Status">HTTP status code.</param>
/// <param name="Code">The admin API's error code (<c>invalid_argument</c>, <c>not_found</c>, <c>method_not_allowed</c>, …).</param>
/// <param name="Message">One line for the client, naming the field or parameter that is wrong.</param>
public sealed record ApiProblem(int Status, string Code, string Message);

/// <summary>
/// An answer an API module decides by its status code alone (an API whose codes the core's <see cref="ErrorKind"/>s do
/// not cover, such as Cinder's 401, 406 and 413): expected, answered in the API's shape, never logged with a stack.
/// </summary>
public class ApiStatusException(int status, string message) : Exception(message)
{
    /// <summary>The HTTP status of the answer.</summary>
    public int Status { get; } = status;
}

/// <summary>Maps Cairn errors, and the errors ASP.NET Core raises itself, to HTTP status codes and messages.</summary>
public static partial class ApiErrors
{
    public static int StatusCode(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => StatusCodes.Status400BadRequest,
        ErrorKind.NotFound => StatusCodes.Status404NotFound,
        ErrorKind.AlreadyExists => StatusCodes.Status409Conflict,
        ErrorKind.Conflict => StatusCodes.Status409Conflict,
        ErrorKind.NoSpace => StatusCodes.Status507InsufficientStorage,
        ErrorKind.Forbidden => StatusCodes.Status403Forbidden,
        ErrorKind.Unauthorized => StatusCodes.Status401Unauthorized,
        ErrorKind.NotSupported => StatusCodes.Status501NotImplemented,
        _ => StatusCodes.Status500InternalServerError,
    };

    /// <summary>snake_case name of an error kind, as the admin API reports it.</summary>
    public static string Code(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => "invalid_argument",
        ErrorKind.NotFound => "not_found",
        ErrorKind.AlreadyExists => "already_exists",
        ErrorKind.Conflict => "conflict",
        ErrorKind.NoSpace => "no_space",
        ErrorKind.Forbidden => "forbidden",
        ErrorKind.Unauthorized => "unauthorized",
        ErrorKind.NotSupported => "not_supported",
        _ => "internal",
    };

    /// <summary>The code of an answer that has no <see cref="ErrorKind"/> (ASP.NET Core's own 404, 405, 413, …).</summary>
    public static string Code(int status) => status switch
    {
        StatusCodes.Status404NotFound => "not_found",
        StatusCodes.Status405MethodNotAllowed => "method_not_allowed",
        StatusCodes.Status413PayloadTooLarge => "too_large",
        StatusCodes.Status415UnsupportedMediaType => "unsupported_media_type",
        StatusCodes.Status403Forbidden => "forbidden",
        StatusCodes.Status401Unauthorized => "unauthorized",
        StatusCodes.Status409Conflict => "conflict",
        >= 400 and < 500 => "invalid_argument",
        _ => "internal",
    };

    /// <summary>Turns any exception into an answer. Unexpected exceptions never leak details.</summary>
    public static ApiProblem Describe(Exception ex) => ex switch
    {
        CairnException ce => new(StatusCode(ce.Kind), Code(ce.Kind), ce.Message),
        ApiStatusException se => new(se.Status, Code(se.Status), se.Message),
        BadHttpRequestException bad => new(bad.StatusCode, Code(bad.StatusCode), BadRequestMessage(bad)),
        System.Text.Json.JsonException => new(StatusCodes.Status400BadRequest, "invalid_argument", "request body is not valid JSON for this call"),
        OperationCanceledException => new(StatusCodes.Status500InternalServerError, "internal", "request cancelled"),
        _ => new(StatusCodes.Status500InternalServerError, "internal", "internal error; see the server log"),
    };

    /// <summary>
    /// Routine events that are nobody's fault on the server: the client went away (reset, abort, cancelled request).
    /// They are logged in one line, without a stack trace.
    /// </summary>
    public static bool IsClientGone(Exception ex, HttpContext ctx) =>
        ctx.RequestAborted.IsCancellationRequested || ex is ConnectionResetException or ConnectionAbortedException
        || ex.InnerException is ConnectionResetException or ConnectionAbortedException;

    /// <summary>Expected failures: the client's mistake or a refused operation, answered with a reason and never logged with a stack.</summary>
    public static bool IsExpected(Exception ex) => ex is CairnException or ApiStatusException or BadHttpRequestException or System.Text.Json.JsonException;

    /// <summary>
    /// ASP.NET Core's parameter-binding messages name C# types and parameters (<c>Failed to bind parameter "int? limit"
    /// from "abc".</c>); the client sees the parameter and what it must be.
    /// </summary>
    private static string BadRequestMessage(BadHttpRequestException bad)
    {
        if (bad.StatusCode == StatusCodes.Status413PayloadTooLarge)
            return BodyLimit().Match(bad.Message) is { Success: true } lim && long.TryParse(lim.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture, out var n)
                ? $"request body is too large: at most {Sizes.Format(n)} ({n} bytes)"
                : "request body is too large";
        if (BindFailed().Match(bad.Message) is { Success: true } m)
            return $"{m.Groups["name"].Value}: '{m.Groups["value"].Value}' is not {Expected(m.Groups["type"].Value)}";
        if (Missing().Match(bad.Message) is { Success: true } r)
            return $"{r.Groups["name"].Value}: required";
        return bad.Message.TrimEnd('.');
    }

    /// <summary>What a value of a .NET type looks like in words.</summary>
    public static string Expected(string clrType) => (clrType.StartsWith("Nullable<", StringComparison.Ordinal) ? clrType[9..].TrimEnd('>') : clrType.TrimEnd('?')) switch
    {
        "bool" or "Boolean" or "System.Boolean" => "true or false",
        "int" or "long" or "short" or "Int32" or "Int64" or "Int16" or "System.Int32" or "System.Int64" or "System.Int16" => "a whole number",
        "uint" or "ulong" or "UInt32" or "UInt64" or "System.UInt32" or "System.UInt64" => "a whole number of at least 0",
        "double" or "float" or "decimal" or "Double" or "Single" or "Decimal" or "System.Double" or "System.Single" or "System.Decimal" => "a number",
        "string" or "String" or "System.String" => "a string",
        "Guid" or "System.Guid" => "an id (a UUID)",
        "DateTimeOffset" or "DateTime" or "System.DateTimeOffset" or "System.DateTime" => "a date and time (ISO 8601)",
        _ => "a valid value",
    };

    [GeneratedRegex("""^Failed to bind parameter "(?<type>\S+) (?<name>[^"]+)" from "(?<value>.*)"\.?$""", RegexOptions.Singleline)]
    private static partial Regex BindFailed();

    [GeneratedRegex("""^Required parameter "(?<type>\S+) (?<name>[^"]+)" was not provided""")]
    private static partial Regex Missing();

    [GeneratedRegex("""max request body size is (\d+) bytes""")]
    private static partial Regex BodyLimit();
}
