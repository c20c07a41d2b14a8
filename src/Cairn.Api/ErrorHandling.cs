using System.Diagnostics;
using System.Text.Json;
using Cairn.Core;
using Microsoft.AspNetCore.WebUtilities;

namespace Cairn.Api;

/// <summary>
/// One middleware for every API: catches exceptions, logs unexpected ones with their stack, and answers the
/// client in the error shape of the API the path belongs to. No stack trace ever reaches a client, and no error
/// answer is bodiless: the 404 of an unknown path, the 405 of a wrong method and the 400 of a query parameter that does
/// not bind (ASP.NET Core's own answers, with no body) get the same body as the errors the handlers throw.
/// Routine events (a client that went away, a request refused with a reason) are one log line without a stack trace.
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
            if (IsBodilessError(ctx.Response)) await WriteAsync(ctx, shape, Bodiless(ctx));
        }
        catch (Exception ex) when (ApiErrors.IsClientGone(ex, ctx))
        {
            // A client that went away before or during the answer is routine: one line, no stack trace. Nobody is
            // left to answer.
            ErrorLog.ClientGone(log, ctx.Request.Method, ctx.Request.Path.Value, ex.GetType().Name + ": " + ex.Message);
            ctx.Abort();
        }
        catch (Exception ex) when (!ctx.Response.HasStarted)
        {
            if (!ApiErrors.IsExpected(ex)) ErrorLog.Unhandled(log, ex, ctx.Request.Method, ctx.Request.Path.Value);
            ctx.Response.Clear();
            await WriteAsync(ctx, shape, ApiErrors.Describe(ex));
        }
        catch (Exception ex)
        {
            // The response was streaming already: all we can do is log and abort the connection.
            if (ApiErrors.IsExpected(ex)) ErrorLog.FailedAfterStart(log, ctx.Request.Method, ctx.Request.Path.Value, ex.Message);
            else ErrorLog.AfterStart(log, ex, ctx.Request.Method, ctx.Request.Path.Value);
            ctx.Abort();
        }
        finally
        {
            metrics.ObserveRequest(shape?.Name ?? "other", ctx.Request.Method, ctx.Response.StatusCode, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
    }

    /// <summary>An error status set without a body (routing's 404 and 405, a parameter that did not bind, Kestrel's limits).</summary>
    private static bool IsBodilessError(HttpResponse r) =>
        r.StatusCode >= 400 && !r.HasStarted && r.ContentLength is null && string.IsNullOrEmpty(r.ContentType);

    private static ApiProblem Bodiless(HttpContext ctx)
    {
        var status = ctx.Response.StatusCode;
        var (method, path) = (ctx.Request.Method, ctx.Request.Path.Value);
        var message = status switch
        {
            StatusCodes.Status404NotFound => $"no such endpoint: {method} {path}",
            StatusCodes.Status405MethodNotAllowed => $"{method} is not allowed on {path}" +
                (ctx.Response.Headers.Allow.Count > 0 ? $" (allowed: {string.Join(", ", ctx.Response.Headers.Allow.ToArray())})" : ""),
            _ => ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } p ? p.ToLowerInvariant() : $"error {status}",
        };
        return new ApiProblem(status, ApiErrors.Code(status), message);
    }

    private async Task WriteAsync(HttpContext ctx, ApiErrorShape? shape, ApiProblem problem)
    {
        ctx.Response.StatusCode = problem.Status;
        ctx.Response.ContentType = "application/json";
        if (HttpMethods.IsHead(ctx.Request.Method)) return; // a HEAD answer has the headers of the GET one and no body
        try
        {
            await ctx.Response.WriteAsync(shape is null ? DefaultBody(problem) : shape.Body(problem, ctx));
        }
        catch (Exception ex) when (ApiErrors.IsClientGone(ex, ctx) || ex is IOException)
        {
            // The client left while it was being answered: escaping here, this would be Kestrel's "unhandled exception"
            // with a stack trace.
            ErrorLog.ClientGone(log, ctx.Request.Method, ctx.Request.Path.Value, ex.GetType().Name + ": " + ex.Message);
            ctx.Abort();
        }
    }

    private ApiErrorShape? Match(PathString path)
    {
        foreach (var s in _shapes)
            if (path.StartsWithSegments(s.PathPrefix, StringComparison.OrdinalIgnoreCase)) return s;
        return null;
    }

    /// <summary>The admin API's error body, also used for paths that belong to no API.</summary>
    public static string DefaultBody(ApiProblem problem) =>
        JsonSerializer.Serialize(new ApiError(new ApiErrorDetail(problem.Code, problem.Message)), CairnJsonContext.Default.ApiError);
}

/// <summary>How an API (by path prefix) shapes its error bodies.</summary>
/// <param name="Name">API name for metrics ("admin", "lun", …).</param>
/// <param name="PathPrefix">Path prefix, e.g. "/cairn".</param>
/// <param name="Body">Error body writer.</param>
public sealed record ApiErrorShape(string Name, string PathPrefix, Func<ApiProblem, HttpContext, string> Body);

internal static partial class ErrorLog
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Error, Message = "unhandled error on {Method} {Path}")]
    public static partial void Unhandled(ILogger logger, Exception error, string method, string? path);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Error, Message = "error after the response started on {Method} {Path}")]
    public static partial void AfterStart(ILogger logger, Exception error, string method, string? path);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Debug, Message = "client went away during {Method} {Path}: {Reason}")]
    public static partial void ClientGone(ILogger logger, string method, string? path, string reason);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "{Method} {Path} failed after the response started: {Reason}")]
    public static partial void FailedAfterStart(ILogger logger, string method, string? path, string reason);
}
