using System.Globalization;
using System.Text.RegularExpressions;
using Cairn.Core.Identity;

namespace Cairn.Api.BlockStorage.Http;

/// <summary>The microversions this API serves (<c>OpenStack-API-Version: volume 3.N</c>).</summary>
public static partial class Microversion
{
    /// <summary>The lowest microversion (also the one a request without the header gets).</summary>
    public const int Min = 0;

    /// <summary>The highest microversion served: what openstacksdk asks for; cinderclient asks for min(this, 3.70).</summary>
    public const int Max = 60;

    public const string Header = "OpenStack-API-Version";

    /// <summary>"3.N" of a minor version.</summary>
    public static string Text(int minor) => "3." + minor.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The minor version a v3 request asks for: none (or a header naming another service) is 3.0, <c>latest</c> is
    /// <see cref="Max"/>; a malformed version is 400, one outside 3.0–3.Max 406, as Cinder answers.
    /// </summary>
    public static int Parse(string? header)
    {
        if (string.IsNullOrWhiteSpace(header)) return Min;
        foreach (var part in header.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var words = part.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words.Length == 0 || !words[0].Equals("volume", StringComparison.OrdinalIgnoreCase)) continue;
            if (words.Length != 2) throw new CinderError(400, $"Invalid API version string {part}: expected 'volume 3.N'");
            var v = words[1];
            if (v.Equals("latest", StringComparison.OrdinalIgnoreCase)) return Max;
            var m = Version().Match(v);
            if (!m.Success) throw new CinderError(400, $"Version string '{v}' is not valid; it must be MAJOR.MINOR (e.g. 3.60)");
            var major = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            var minor = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            if (major != 3 || minor > Max)
                throw new CinderError(406, $"Version {v} is not supported by the API. Minimum is {Text(Min)} and maximum is {Text(Max)}.");
            return minor;
        }
        return Min;
    }

    [GeneratedRegex(@"^(\d{1,4})\.(\d{1,4})$")]
    private static partial Regex Version();
}

/// <summary>An error answered in Cinder's shape: <c>{"badRequest": {"code": 400, "message": "…"}}</c>.</summary>
public sealed class CinderError(int status, string message) : ApiStatusException(status, message)
{
    public static CinderError BadRequest(string message) => new(400, message);
    public static CinderError NotFound(string message) => new(404, message);
    public static CinderError Forbidden(string message = "Policy doesn't allow this operation to be performed.") => new(403, message);
    public static CinderError OverLimit(string message) => new(413, message);
}

/// <summary>Cinder's fault bodies (<c>cinder/api/openstack/wsgi.py</c>'s <c>Fault._fault_names</c>) and Keystone's 401.</summary>
public static class CinderFaults
{
    public static string Name(int status) => status switch
    {
        400 => "badRequest",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "itemNotFound",
        405 => "badMethod",
        409 => "conflictingRequest",
        413 => "overLimit",
        415 => "badMediaType",
        501 => "notImplemented",
        503 => "serviceUnavailable",
        _ => "computeFault",
    };

    /// <summary>The body of an error answer.</summary>
    public static string Body(int status, string message)
    {
        if (status == 401)
        {
            // keystonemiddleware's answer: the one clients see from a real deployment.
            return new JsonObject
            {
                ["error"] = new JsonObject { ["code"] = 401, ["title"] = "Unauthorized", ["message"] = "The request you have made requires authentication." },
            }.ToJsonString();
        }
        return new JsonObject { [Name(status)] = new JsonObject { ["code"] = status, ["message"] = message } }.ToJsonString();
    }

    /// <summary>The Block Storage API's error shape for the error middleware, for a path prefix.</summary>
    public static ApiErrorShape Shape(string prefix) => new("block-storage", prefix, (problem, ctx) =>
    {
        if (problem.Status == 401) ctx.Response.Headers.WWWAuthenticate = $"Keystone uri=\"{CinderRequest.Root(ctx.Request)}/identity/v3\"";
        return Body(problem.Status, CinderMessage(problem, ctx));
    });

    private static string CinderMessage(ApiProblem p, HttpContext ctx) => p.Status switch
    {
        404 when p.Code == "not_found" && p.Message.StartsWith("no such endpoint", StringComparison.Ordinal) => "The resource could not be found.",
        405 => "The method specified is not allowed for this resource.",
        _ => p.Message,
    };
}

/// <summary>
/// What every Block Storage request carries once the headers are checked: the caller (from <c>X-Auth-Token</c>), the
/// project it acts in, the microversion and the URL base for links.
/// </summary>
public sealed class CinderRequest
{
    private const string ItemKey = "cairn.cinder";

    public required Caller Caller { get; init; }

    /// <summary>The project of the URL (or of the token, for <c>/v3/…</c> without one).</summary>
    public required string Project { get; init; }

    /// <summary>Minor version of 3.x (v2 requests: 0).</summary>
    public required int Version { get; init; }

    /// <summary>The request came through <c>/v2/{project}</c>.</summary>
    public required bool V2 { get; init; }

    /// <summary><c>http://host:port/v3/{project}</c> (or <c>/v2/…</c>): the base of self links.</summary>
    public required string Endpoint { get; init; }

    /// <summary><c>http://host:port/{project}</c>: the base of bookmark links.</summary>
    public required string Bookmark { get; init; }

    public bool IsAdmin => Caller.IsAdmin;

    /// <summary>
    /// The request carries a <c>wrs-header</c> header (any value): StarlingX's clients send it, and only then do views
    /// show the <c>wrs-volume:</c>/<c>wrs-snapshot:</c> fields (Tempest's strict schemas refuse them otherwise).
    /// </summary>
    public bool Wrs { get; init; }

    public bool AtLeast(int minor) => !V2 && Version >= minor;

    public static CinderRequest Of(HttpContext ctx) =>
        ctx.Items.TryGetValue(ItemKey, out var r) && r is CinderRequest c ? c : throw new InvalidOperationException("not a Block Storage request");

    internal static void Set(HttpContext ctx, CinderRequest r) => ctx.Items[ItemKey] = r;

    /// <summary>Refuses a reader (members and admins change their project).</summary>
    public void RequireWrite()
    {
        if (!Caller.CanWrite) throw CinderError.Forbidden();
    }

    /// <summary>Refuses anybody but an admin.</summary>
    public void RequireAdmin()
    {
        if (!Caller.IsAdmin) throw CinderError.Forbidden();
    }

    /// <summary><c>scheme://host[:port]</c> of the request.</summary>
    public static string Root(HttpRequest r) => r.Scheme + "://" + r.Host.Value;
}

/// <summary>
/// The header rules of every Block Storage answer (errors included): <c>x-openstack-request-id</c> everywhere, on v3
/// the microversion echoed with <c>Vary</c>; then the token (except on version discovery) and the URL's project.
/// </summary>
public sealed partial class CinderHeaders(RequestDelegate next, ITokenValidator tokens)
{
    public async Task InvokeAsync(HttpContext ctx)
    {
        var path = ctx.Request.Path;
        var v3 = path.StartsWithSegments("/v3", StringComparison.Ordinal);
        var v2 = !v3 && path.StartsWithSegments("/v2", StringComparison.Ordinal);
        var root = path.Value is "/" or "";
        if (!v3 && !v2 && !root)
        {
            await next(ctx);
            return;
        }
        var requestId = "req-" + Guid.NewGuid().ToString("D");
        var version = Microversion.Min;
        ctx.Response.OnStarting(() =>
        {
            // After the error middleware cleared the headers of a failed answer: set here, they are on every answer.
            var h = ctx.Response.Headers;
            h["x-openstack-request-id"] = requestId;
            if (v3)
            {
                h[Microversion.Header] = "volume " + Microversion.Text(version);
                h.Vary = Microversion.Header;
            }
            return Task.CompletedTask;
        });
        if (v3) version = Microversion.Parse(ctx.Request.Headers[Microversion.Header].ToString());
        if (root || path.Value is "/v3" or "/v3/" or "/v2" or "/v2/")
        {
            await next(ctx);
            return;
        }
        // Routing ignores a trailing slash; Cinder does not: GET /volumes/ (an empty id) is no resource.
        if (path.Value!.EndsWith('/')) throw CinderError.NotFound("The resource could not be found.");
        var token = ctx.Request.Headers["X-Auth-Token"].ToString();
        var caller = token.Length == 0 ? null : await tokens.ValidateAsync(token, ctx.RequestAborted);
        if (caller is null) throw new CinderError(401, "The request you have made requires authentication.");
        var urlProject = ctx.GetRouteValue("project_id") as string;
        if (urlProject is null && v2) throw CinderError.NotFound("The resource could not be found.");
        if (urlProject is not null && !string.Equals(urlProject, caller.ProjectId, StringComparison.Ordinal))
            throw CinderError.BadRequest($"Malformed request URL: URL's project_id '{urlProject}' doesn't match Context's project_id '{caller.ProjectId}'");
        var baseUrl = CinderRequest.Root(ctx.Request);
        var project = urlProject ?? caller.ProjectId;
        CinderRequest.Set(ctx, new CinderRequest
        {
            Caller = caller,
            Project = project,
            Version = v3 ? version : 0,
            V2 = v2,
            Endpoint = $"{baseUrl}/{(v2 ? "v2" : "v3")}/{project}",
            Bookmark = $"{baseUrl}/{project}",
            Wrs = ctx.Request.Headers.ContainsKey("wrs-header"),
        });
        await next(ctx);
    }
}
