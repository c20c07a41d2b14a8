using Cairn.Api.BlockStorage.Http;
using Cairn.Api.BlockStorage.Model;
using Cairn.Core.Services;
using Cairn.Core.Identity;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Cairn.Api.BlockStorage;

/// <summary>
/// The Block Storage API (OpenStack Cinder compatible): version discovery at <c>/</c>, <c>/v3</c> and <c>/v2</c>; the
/// resources under <c>/v3/{project_id}</c>, <c>/v3</c> (project from the token) and <c>/v2/{project_id}</c>. See
/// docs/api/block-storage.md.
/// </summary>
public static class BlockStorageApi
{
    /// <summary>Cinder's <c>updated</c> date of the v3 API in its version document.</summary>
    private const string V3Updated = "2023-03-30T00:00:00Z";

    /// <summary>Registers the module's services, its record reconciler, its start-up recovery and its error shapes.</summary>
    public static IServiceCollection AddCairnBlockStorage(this IServiceCollection s, BlockStorageOptions options)
    {
        s.AddSingleton(options);
        s.AddSingleton<CinderCatalog>();
        s.AddSingleton<VolumeWorkflows>();
        s.AddSingleton<AttachWorkflows>();
        s.AddSingleton<ManageWorkflows>();
        s.AddSingleton<BackupWorkflows>();
        s.AddSingleton<Core.Jobs.IJobHandler, VolumeExportJob>();
        s.AddSingleton<Core.Jobs.IJobHandler, SnapshotExportJob>();
        s.AddSingleton<Core.Jobs.IJobHandler, ImportJob>();
        s.AddSingleton<Views>();
        s.AddSingleton<IRecordReconciler, BlockStorageRecordReconciler>();
        // Until the identity module registers its validator: no token is valid (401), never an open API.
        s.TryAddSingleton<ITokenValidator, NoTokensValid>();
        s.Configure<RouteOptions>(o => o.SetParameterPolicy<ProjectIdConstraint>(ProjectIdConstraint.Name));
        s.AddSingleton(CinderFaults.Shape("/v3"));
        s.AddSingleton(CinderFaults.Shape("/v2"));
        // Registered after the core's start-up reconcile, so it runs after it (hosted services start in order).
        s.AddHostedService<BlockStorageStartup>();
        return s;
    }

    /// <summary>Maps the API; call after the error middleware is in place.</summary>
    public static WebApplication MapCairnBlockStorage(this WebApplication app)
    {
        app.UseMiddleware<CinderHeaders>();
        app.MapGet("/", (HttpContext ctx) => Views.Json(new JsonObject { ["versions"] = new JsonArray(V2(ctx), V3(ctx)) }, 300)).ExcludeFromDescription();
        // One route each serves "/v3" and "/v3/" (routing ignores a trailing slash).
        app.MapGet("/v3", (HttpContext ctx) => Views.Json(new JsonObject { ["versions"] = new JsonArray(V3(ctx)) })).ExcludeFromDescription();
        app.MapGet("/v2", (HttpContext ctx) => Views.Json(new JsonObject { ["versions"] = new JsonArray(V2(ctx)) })).ExcludeFromDescription();

        // Cinder's routes take project ids of hex digits and dashes only (anything else is not a route).
        const string project = "{project_id:" + ProjectIdConstraint.Name + "}";
        foreach (var prefix in new[] { "/v3/" + project, "/v3", "/v2/" + project })
        {
            var g = app.MapGroup(prefix).ExcludeFromDescription();
            VolumesEndpoints.Map(g);
            ActionsEndpoints.Map(g);
            SnapshotsEndpoints.Map(g);
            CatalogEndpoints.Map(g);
            AttachEndpoints.Map(g);
            ManageEndpoints.Map(g);
        }
        return app;
    }

    private static JsonObject V3(HttpContext ctx) => new()
    {
        ["id"] = "v3.0",
        ["links"] = new JsonArray(
            new JsonObject { ["href"] = "https://docs.openstack.org/", ["type"] = "text/html", ["rel"] = "describedby" },
            new JsonObject { ["href"] = CinderRequest.Root(ctx.Request) + "/v3/", ["rel"] = "self" }),
        ["media-types"] = new JsonArray(new JsonObject { ["base"] = "application/json", ["type"] = "application/vnd.openstack.volume+json;version=3" }),
        ["min_version"] = Microversion.Text(Microversion.Min),
        ["status"] = "CURRENT",
        ["updated"] = V3Updated,
        ["version"] = Microversion.Text(Microversion.Max),
    };

    private static JsonObject V2(HttpContext ctx) => new()
    {
        ["id"] = "v2.0",
        ["links"] = new JsonArray(
            new JsonObject { ["href"] = "https://docs.openstack.org/", ["type"] = "text/html", ["rel"] = "describedby" },
            new JsonObject { ["href"] = CinderRequest.Root(ctx.Request) + "/v2/", ["rel"] = "self" }),
        ["media-types"] = new JsonArray(new JsonObject { ["base"] = "application/json", ["type"] = "application/vnd.openstack.volume+json;version=2" }),
        ["min_version"] = "",
        ["status"] = "DEPRECATED",
        ["updated"] = "2017-02-25T12:00:00Z",
        ["version"] = "",
    };
}

/// <summary>At start, after the core's reconcile: the default volume type, then what a crash interrupted (also exports and imports whose job is over).</summary>
internal sealed class BlockStorageStartup(CinderCatalog catalog, VolumeWorkflows workflows, BackupWorkflows backups, Core.Jobs.JobEngine jobs) : IHostedService
{
    public async Task StartAsync(CancellationToken ct)
    {
        await catalog.EnsureDefaultAsync(ct);
        // Before the scan: a backup job the engine fails from now on is settled as it ends; one it failed before is found by the scan.
        jobs.JobFinished += backups.OnJobFinished;
        await workflows.RecoverAsync(ct);
        await backups.RecoverAsync(ct);
    }

    public Task StopAsync(CancellationToken ct)
    {
        jobs.JobFinished -= backups.OnJobFinished;
        return Task.CompletedTask;
    }
}

/// <summary>The validator of a server without an identity module: every token is refused.</summary>
internal sealed class NoTokensValid : ITokenValidator
{
    public ValueTask<Caller?> ValidateAsync(string token, CancellationToken ct) => ValueTask.FromResult<Caller?>(null);
}

/// <summary>Cinder's project ids in URLs: hex digits and dashes only (<c>[0-9a-f-]+</c>); anything else is no route.</summary>
internal sealed class ProjectIdConstraint : IRouteConstraint
{
    public const string Name = "cinderproject";

    public bool Match(HttpContext? httpContext, IRouter? route, string routeKey, RouteValueDictionary values, RouteDirection routeDirection) =>
        values.TryGetValue(routeKey, out var v) && v is string s && s.Length is > 0 and <= 64 && s.All(c => char.IsAsciiHexDigit(c) || c == '-');
}
