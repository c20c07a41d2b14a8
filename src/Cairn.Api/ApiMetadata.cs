namespace Cairn.Api;

/// <summary>
/// OpenAPI metadata shared by the endpoints: the error answers each can give, in its API's error shape. Errors are
/// thrown as <see cref="Core.CairnException"/> and written by <see cref="ApiErrorMiddleware"/>, so they are declared
/// here rather than in the handlers' return types. Every endpoint can answer 500.
/// </summary>
public static class ApiMetadata
{
    /// <summary>Declares the admin API error body (<see cref="ApiError"/>) for <paramref name="codes"/> and 500.</summary>
    public static RouteHandlerBuilder AdminErrors(this RouteHandlerBuilder b, params int[] codes) => Errors<ApiError>(b, codes);

    /// <summary>Declares the LUN clone API error body (<see cref="LunError"/>) for <paramref name="codes"/> and 500.</summary>
    public static RouteHandlerBuilder LunErrors(this RouteHandlerBuilder b, params int[] codes) => Errors<LunError>(b, codes);

    /// <summary>Endpoint metadata: the endpoint lifts the server's request body limit (image imports), so it never answers 413.</summary>
    public sealed class UnlimitedBody;

    /// <summary>Marks an endpoint that lifts the request body limit itself (see <see cref="UnlimitedBody"/>).</summary>
    public static RouteHandlerBuilder WithoutBodyLimit(this RouteHandlerBuilder b) => b.WithMetadata(new UnlimitedBody());

    /// <summary>Names the operation (its OpenAPI operationId) and gives its one-line summary.</summary>
    public static RouteHandlerBuilder Operation(this RouteHandlerBuilder b, string id, string summary) => b.WithName(id).WithSummary(summary);

    private static RouteHandlerBuilder Errors<T>(RouteHandlerBuilder b, int[] codes)
    {
        foreach (var code in codes.Append(StatusCodes.Status500InternalServerError).Distinct())
            b.Produces<T>(code, "application/json");
        return b;
    }
}
