using System.Diagnostics;
using System.Text.Json;
using Cairn.Core;

namespace Cairn.Api;

/// <summary>
/// One middleware for every API: catches exceptions, logs unexpected ones with their stack, and answers the
/// client in the error shape of the API the path belongs to. No stack trace ever reaches a client.
/// Also records request latency metrics per API.
/// </summary>
public sealed class ApiErrorMiddleware(RequestDelegate next, ILogger<ApiErrorMiddleware> log, CairnMetrics metrics, IEnumerable<ApiErrorShape> shapes)
{
    private readonly ApiErrorShape[] _shapes = [.. shapes.OrderByDescending(s => s.PathPrefix.Length)];

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031", Justification = "The last-resort handler: every fault becomes an error response or a log line.")]
    public async Task InvokeAsync(HttpContext ctx)
    {
        var start = Stopwatch.GetTimestamp();
        var shape = Match(ctx.Request.Path);
        try
        {
            await next(ctx);
        }
        catch (Exception ex) when (!ctx.Response.HasStarted)
        {
            var (kind, message) = ApiErrors.Describe(ex);
            if (ex is not CairnException and not BadHttpRequestException and not JsonException)
                ErrorLog.Unhandled(log, ex, ctx.Request.Method, ctx.Request.Path.Value);
            ctx.Response.Clear();
            ctx.Response.StatusCode = shape?.StatusFor?.Invoke(kind) ?? ApiErrors.StatusCode(kind);
            ctx.Response.ContentType = "application/json";
            var body = shape is null ? DefaultBody(kind, message) : shape.Body(kind, message, ctx);
            await ctx.Response.WriteAsync(body);
        }
        catch (Exception ex)
        {
            // The response was streaming already: all we can do is log and abort the connection. A client that went away
            // mid-answer is routine (one line, no stack trace); anything else is a fault.
            if (ctx.RequestAborted.IsCancellationRequested || ex is OperationCanceledException or IOException)
                ErrorLog.ClientGone(log, ctx.Request.Method, ctx.Request.Path.Value, ex.Message);
            else
                ErrorLog.AfterStart(log, ex, ctx.Request.Method, ctx.Request.Path.Value);
            ctx.Abort();
        }
        finally
        {
            metrics.ObserveRequest(shape?.Name ?? "other", ctx.Request.Method, ctx.Response.StatusCode, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
    }

    private ApiErrorShape? Match(PathString path)
    {
        foreach (var s in _shapes)
            if (path.StartsWithSegments(s.PathPrefix, StringComparison.OrdinalIgnoreCase)) return s;
        return null;
    }

    internal static string DefaultBody(ErrorKind kind, string message) =>
        JsonSerializer.Serialize(new ApiError(new ApiErrorDetail(ApiErrors.Code(kind), message)), CairnJsonContext.Default.ApiError);
}

/// <summary>How an API (by path prefix) shapes its error bodies.</summary>
/// <param name="Name">API name for metrics ("admin", "lun", …).</param>
/// <param name="PathPrefix">Path prefix, e.g. "/cairn".</param>
/// <param name="Body">Error body writer.</param>
/// <param name="StatusFor">Optional override of the status code mapping.</param>
public sealed record ApiErrorShape(string Name, string PathPrefix, Func<ErrorKind, string, HttpContext, string> Body, Func<ErrorKind, int>? StatusFor = null);

internal static partial class ErrorLog
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Error, Message = "unhandled error on {Method} {Path}")]
    public static partial void Unhandled(ILogger logger, Exception error, string method, string? path);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Error, Message = "error after the response started on {Method} {Path}")]
    public static partial void AfterStart(ILogger logger, Exception error, string method, string? path);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Debug, Message = "client went away during {Method} {Path}: {Reason}")]
    public static partial void ClientGone(ILogger logger, string method, string? path, string reason);
}
