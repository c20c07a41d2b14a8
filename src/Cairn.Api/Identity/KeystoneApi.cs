using System.Globalization;
using System.Text.Json.Nodes;
using Cairn.Core;
using Cairn.Core.Identity;
using Microsoft.AspNetCore.WebUtilities;

namespace Cairn.Api.Identity;

/// <summary>
/// Where the catalog's endpoints point: <see cref="PublicBase"/> (the public URL) when configured (<c>--public-url</c>) or derived from a
/// listener on a fixed address and port; otherwise the scheme and host the client used to reach the server.
/// </summary>
public sealed record KeystoneSettings(string? PublicBase, string Region = "RegionOne")
{
    /// <summary>The base URL (no trailing slash) that services in the catalog hang off.</summary>
    public string Root(HttpRequest request) => PublicBase?.TrimEnd('/') ?? $"{request.Scheme}://{request.Host.Value}";
}

/// <summary>
/// A Keystone v3 compatible token service under <c>/identity</c> (so <c>--os-auth-url http://HOST:PORT/identity/v3</c>
/// works): version discovery, <c>POST /v3/auth/tokens</c> (password and token methods, project scope or unscoped),
/// <c>GET</c>/<c>HEAD</c>/<c>DELETE /v3/auth/tokens</c>, and <c>/v3/auth/catalog|projects|domains</c>. Bodies and errors
/// are Keystone's (<c>{"error":{"code","title","message"}}</c>). See docs/api/identity.md.
/// </summary>
public static class KeystoneApi
{
    public const string Prefix = "/identity";

    /// <summary>The Keystone API version Cairn's answers follow (Keystone 2023.x says v3.14).</summary>
    public const string Version = "v3.14";

    private const string Updated = "2020-04-07T00:00:00Z";

    /// <summary>Keystone's error body; a 401 also says where to authenticate (<c>WWW-Authenticate</c>), as keystonemiddleware does.</summary>
    public static ApiErrorShape ErrorShape { get; } = new("identity", Prefix, (problem, ctx) =>
    {
        if (problem.Status == StatusCodes.Status401Unauthorized)
        {
            var settings = ctx.RequestServices.GetService<KeystoneSettings>() ?? new KeystoneSettings(null);
            ctx.Response.Headers.WWWAuthenticate = $"Keystone uri=\"{settings.Root(ctx.Request)}{Prefix}\"";
        }
        return ErrorBody(problem.Status, problem.Message);
    });

    /// <summary><c>{"error":{"code":N,"title":"…","message":"…"}}</c>.</summary>
    public static string ErrorBody(int status, string message) => new JsonObject
    {
        ["error"] = new JsonObject
        {
            ["code"] = status,
            ["title"] = ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } t ? t : "Error",
            ["message"] = message,
        },
    }.ToJsonString();

    /// <summary>Maps the token service; with <paramref name="enabled"/> false (<c>--auth noauth</c>) every path answers 404 saying why.</summary>
    public static IEndpointRouteBuilder MapKeystoneApi(this IEndpointRouteBuilder app, bool enabled)
    {
        if (!enabled)
        {
            app.Map(Prefix + "/{**rest}", () => Results.Text(ErrorBody(404, "the identity service is off: this server runs with --auth noauth"), "application/json", statusCode: 404))
                .ExcludeFromDescription();
            return app;
        }
        // Discovery: the versionless URL lists the versions (300, as Keystone), /v3 shows its own (routes match with or
        // without a trailing slash).
        app.MapMethods(Prefix, [HttpMethods.Get, HttpMethods.Head], (HttpRequest req, KeystoneSettings s) =>
            Answer(new JsonObject { ["versions"] = new JsonObject { ["values"] = new JsonArray(VersionEntry(req, s)) } }, StatusCodes.Status300MultipleChoices))
            .ExcludeFromDescription();
        app.MapMethods(Prefix + "/v3", [HttpMethods.Get, HttpMethods.Head], (HttpRequest req, KeystoneSettings s) => Answer(new JsonObject { ["version"] = VersionEntry(req, s) }))
            .ExcludeFromDescription();

        var g = app.MapGroup(Prefix + "/v3").ExcludeFromDescription();
        g.MapPost("/auth/tokens", IssueAsync);
        g.MapMethods("/auth/tokens", [HttpMethods.Get, HttpMethods.Head], ValidateAsync);
        g.MapDelete("/auth/tokens", RevokeAsync);
        g.MapGet("/auth/catalog", async (HttpRequest req, IdentityService ids, KeystoneSettings s, CancellationToken ct) =>
        {
            var t = await CallerAsync(req, ids, ct);
            if (t.Project is null) throw CairnException.Forbidden("The service catalog is empty: the token is not scoped to a project.");
            return Answer(new JsonObject { ["catalog"] = KeystoneCatalog.Build(s.Root(req), t.Project.Id, s.Region), ["links"] = Links(req, s, "/auth/catalog") });
        });
        g.MapGet("/auth/projects", async (HttpRequest req, IdentityService ids, KeystoneSettings s, CancellationToken ct) =>
        {
            var t = await CallerAsync(req, ids, ct);
            var projects = ids.ListProjects().Where(p => IdentityConstants.Effective(t.User.Roles.GetValueOrDefault(p.Id) ?? []).Count > 0);
            return Answer(new JsonObject
            {
                ["projects"] = new JsonArray([.. projects.Select(p => (JsonNode)ProjectEntry(req, s, p))]),
                ["links"] = Links(req, s, "/auth/projects"),
            });
        });
        g.MapGet("/auth/domains", async (HttpRequest req, IdentityService ids, KeystoneSettings s, CancellationToken ct) =>
        {
            await CallerAsync(req, ids, ct);
            // Roles are given on projects only: nobody holds a role on a domain.
            return Answer(new JsonObject { ["domains"] = new JsonArray(), ["links"] = Links(req, s, "/auth/domains") });
        });
        return app;
    }

    // POST /v3/auth/tokens: Keystone's "password" and "token" methods.
    private static async Task<IResult> IssueAsync(HttpRequest req, IdentityService ids, KeystoneSettings s, CancellationToken ct)
    {
        var body = await Json.ReadObjectAsync(req, ct);
        var (methods, password, token, scope) = KeystoneRequest.Parse(body);
        IssuedToken issued;
        if (methods.Contains("password")) issued = await ids.AuthenticateAsync(password!, scope, ct);
        else if (methods.Contains("token")) issued = await ids.AuthenticateAsync(token!, scope, ct);
        else throw CairnException.Unauthorized("The request you have made requires authentication.");
        req.HttpContext.Response.Headers["X-Subject-Token"] = issued.Token;
        return Answer(KeystoneToken.Render(issued.View, s.Root(req), s.Region, catalog: !req.Query.ContainsKey("nocatalog")), StatusCodes.Status201Created);
    }

    // GET/HEAD /v3/auth/tokens: X-Auth-Token says who asks, X-Subject-Token which token to show.
    private static async Task<IResult> ValidateAsync(HttpRequest req, IdentityService ids, KeystoneSettings s, CancellationToken ct)
    {
        var (caller, subject, view) = await SubjectAsync(req, ids, ct);
        req.HttpContext.Response.Headers["X-Subject-Token"] = subject;
        if (HttpMethods.IsHead(req.Method)) return Results.Ok();
        _ = caller;
        return Answer(KeystoneToken.Render(view, s.Root(req), s.Region, catalog: !req.Query.ContainsKey("nocatalog")));
    }

    private static async Task<IResult> RevokeAsync(HttpRequest req, IdentityService ids, CancellationToken ct)
    {
        var (_, subject, _) = await SubjectAsync(req, ids, ct);
        if (!await ids.RevokeAsync(subject, ct)) throw CairnException.NotFound("Could not find token.");
        return Results.NoContent();
    }

    /// <summary>
    /// The caller's token (401 when it does not hold) and the subject token (404 when it does not); a caller may look at
    /// its own tokens, an admin at anybody's (Keystone's identity:validate_token and revoke_token rules).
    /// </summary>
    private static async Task<(TokenView Caller, string Subject, TokenView View)> SubjectAsync(HttpRequest req, IdentityService ids, CancellationToken ct)
    {
        var caller = await CallerAsync(req, ids, ct);
        var subject = req.Headers["X-Subject-Token"].ToString();
        if (subject.Length == 0) throw CairnException.Invalid("X-Subject-Token: required (the token to validate or revoke)");
        var view = await ids.ValidateTokenAsync(subject, ct) ?? throw CairnException.NotFound("Could not find token.");
        if (view.User.Id != caller.User.Id && !caller.Roles.Contains(Roles.Admin))
            throw CairnException.Forbidden("You are not authorized to perform the requested action: identity:validate_token.");
        return (caller, subject, view);
    }

    private static async Task<TokenView> CallerAsync(HttpRequest req, IdentityService ids, CancellationToken ct)
    {
        var token = req.Headers["X-Auth-Token"].ToString();
        return token.Length == 0 ? throw CairnException.Unauthorized("The request you have made requires authentication.")
            : await ids.ValidateTokenAsync(token, ct) ?? throw CairnException.Unauthorized("The request you have made requires authentication.");
    }

    private static JsonObject VersionEntry(HttpRequest req, KeystoneSettings s) => new()
    {
        ["id"] = Version,
        ["status"] = "stable",
        ["updated"] = Updated,
        ["links"] = new JsonArray(new JsonObject { ["rel"] = "self", ["href"] = $"{s.Root(req)}{Prefix}/v3/" }),
        ["media-types"] = new JsonArray(new JsonObject { ["base"] = "application/json", ["type"] = "application/vnd.openstack.identity-v3+json" }),
    };

    private static JsonObject ProjectEntry(HttpRequest req, KeystoneSettings s, IdentityProject p) => new()
    {
        ["id"] = p.Id,
        ["name"] = p.Name,
        ["domain_id"] = IdentityConstants.DomainId,
        ["description"] = p.Description,
        ["enabled"] = true,
        ["is_domain"] = false,
        ["parent_id"] = IdentityConstants.DomainId,
        ["tags"] = new JsonArray(),
        ["options"] = new JsonObject(),
        ["links"] = new JsonObject { ["self"] = $"{s.Root(req)}{Prefix}/v3/projects/{p.Id}" },
    };

    private static JsonObject Links(HttpRequest req, KeystoneSettings s, string path) => new()
    {
        ["self"] = $"{s.Root(req)}{Prefix}/v3{path}",
        ["previous"] = null,
        ["next"] = null,
    };

    private static IResult Answer(JsonObject body, int status = StatusCodes.Status200OK) =>
        Results.Text(body.ToJsonString(), "application/json", statusCode: status);
}

/// <summary>A token as Keystone v3 shows it (<c>{"token":{…}}</c>).</summary>
public static class KeystoneToken
{
    /// <summary>Keystone's timestamps: microseconds and a Z (<c>2026-12-07T01:02:03.000000Z</c>).</summary>
    public static string Stamp(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    public static JsonObject Render(TokenView v, string root, string region, bool catalog)
    {
        var token = new JsonObject
        {
            ["methods"] = new JsonArray([.. v.Methods.Select(m => (JsonNode)m)]),
            ["user"] = new JsonObject
            {
                ["domain"] = Domain(),
                ["id"] = v.User.Id,
                ["name"] = v.User.Name,
                ["password_expires_at"] = null,
            },
            ["audit_ids"] = new JsonArray([.. v.AuditIds.Select(a => (JsonNode)a)]),
            ["expires_at"] = Stamp(v.ExpiresAt),
            ["issued_at"] = Stamp(v.IssuedAt),
        };
        if (v.Project is { } p)
        {
            token["project"] = new JsonObject { ["domain"] = Domain(), ["id"] = p.Id, ["name"] = p.Name };
            token["is_domain"] = false;
            token["roles"] = new JsonArray([.. v.Roles.Select(r => (JsonNode)new JsonObject { ["id"] = IdentityConstants.RoleId(r), ["name"] = r })]);
            if (catalog) token["catalog"] = KeystoneCatalog.Build(root, p.Id, region);
        }
        return new JsonObject { ["token"] = token };
    }

    private static JsonObject Domain() => new() { ["id"] = IdentityConstants.DomainId, ["name"] = IdentityConstants.DomainName };
}

/// <summary>
/// The service catalog: Block Storage as <c>volumev3</c> (what python-cinderclient, the <c>openstack</c> CLI and Tempest
/// look up) and <c>block-storage</c> (openstacksdk's official type), both at <c>{public}/v3/{project_id}</c> as Cinder
/// registers them, and the identity service itself at <c>{public}/identity</c>. Each with public, internal and admin
/// endpoints at the same URL, in one region.
/// </summary>
public static class KeystoneCatalog
{
    private static readonly (string Id, string Type, string Name)[] Services =
    [
        ("c0000000000000000000000000000003", "volumev3", "cinderv3"),
        ("c0000000000000000000000000000004", "block-storage", "cinder"),
        ("c0000000000000000000000000000001", "identity", "keystone"),
    ];

    public static JsonArray Build(string root, string projectId, string region)
    {
        var catalog = new JsonArray();
        foreach (var (id, type, name) in Services)
        {
            var url = type == "identity" ? root + KeystoneApi.Prefix : $"{root}/v3/{projectId}";
            var endpoints = new JsonArray();
            var n = 0;
            foreach (var iface in new[] { "public", "internal", "admin" })
                endpoints.Add(new JsonObject
                {
                    ["id"] = "e" + (++n).ToString(CultureInfo.InvariantCulture) + id[2..],
                    ["interface"] = iface,
                    ["region"] = region,
                    ["region_id"] = region,
                    ["url"] = url,
                });
            catalog.Add(new JsonObject { ["endpoints"] = endpoints, ["id"] = id, ["type"] = type, ["name"] = name });
        }
        return catalog;
    }
}
