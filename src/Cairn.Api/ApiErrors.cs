using Cairn.Core;

namespace Cairn.Api;

/// <summary>Maps Cairn errors to HTTP status codes.</summary>
public static class ApiErrors
{
    public static int StatusCode(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => StatusCodes.Status400BadRequest,
        ErrorKind.NotFound => StatusCodes.Status404NotFound,
        ErrorKind.AlreadyExists => StatusCodes.Status409Conflict,
        ErrorKind.Conflict => StatusCodes.Status409Conflict,
        ErrorKind.NoSpace => StatusCodes.Status507InsufficientStorage,
        ErrorKind.Forbidden => StatusCodes.Status403Forbidden,
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
        ErrorKind.NotSupported => "not_supported",
        _ => "internal",
    };

    /// <summary>Turns any exception into (kind, client-safe message). Unexpected exceptions never leak details.</summary>
    public static (ErrorKind Kind, string Message) Describe(Exception ex) => ex switch
    {
        CairnException ce => (ce.Kind, ce.Message),
        BadHttpRequestException bad => (ErrorKind.InvalidArgument, bad.Message),
        System.Text.Json.JsonException => (ErrorKind.InvalidArgument, "request body is not valid JSON for this call"),
        OperationCanceledException => (ErrorKind.Internal, "request cancelled"),
        _ => (ErrorKind.Internal, "internal error; see the server log"),
    };
}
