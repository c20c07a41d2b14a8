using System.Net;

namespace Cairn.Api.Tests.BlockStorage;

/// <summary>
/// Small parts of Cinder's views that Tempest's volume-actions, retype and services tests read: the readonly flag among
/// a volume's metadata, <c>migration_status</c> for admins, and the <c>os-services</c> host filter matching HOST@backend.
/// </summary>
public sealed class AdminViewTests(BlockStorageHost h) : IClassFixture<BlockStorageHost>
{
    private const string P = BlockStorageHost.Project;

    [Fact]
    public async Task Readonly_flag_shows_in_the_volume_metadata_but_not_in_the_metadata_api()
    {
        var vol = await h.CreateVolumeAsync(1);
        Assert.False((await h.SendAsync("GET", $"/v3/{P}/volumes/{vol}")).Body!["volume"]!["metadata"]!.AsObject().ContainsKey("readonly"));
        foreach (var (flag, text) in new[] { (true, "True"), (false, "False") })
        {
            Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("POST", $"/v3/{P}/volumes/{vol}/action", "{\"os-update_readonly_flag\": {\"readonly\": " + (flag ? "true" : "false") + "}}")).Code);
            Assert.Equal(text, (await h.SendAsync("GET", $"/v3/{P}/volumes/{vol}")).Body!["volume"]!["metadata"]!["readonly"]!.GetValue<string>());
        }
        Assert.Empty((await h.SendAsync("GET", $"/v3/{P}/volumes/{vol}/metadata")).Body!["metadata"]!.AsObject()); // user metadata only, as Cinder
    }

    [Fact]
    public async Task Admins_see_migration_status_members_do_not()
    {
        var vol = await h.CreateVolumeAsync(1);
        var admin = (await h.SendAsync("GET", $"/v3/{P}/volumes/{vol}")).Body!["volume"]!.AsObject();
        Assert.True(admin.ContainsKey("migration_status"));
        Assert.Null(admin["migration_status"]);
        var member = (await h.SendAsync("GET", $"/v3/{P}/volumes/{vol}", token: "member1:" + P)).Body!["volume"]!.AsObject();
        Assert.False(member.ContainsKey("migration_status"));
    }

    [Fact]
    public async Task Services_host_filter_matches_the_backend_host_too()
    {
        var all = (await h.SendAsync("GET", $"/v3/{P}/os-services")).Body!["services"]!.AsArray();
        var volumeHost = all.Single(s => s!["binary"]!.GetValue<string>() == "cinder-volume")!["host"]!.GetValue<string>();
        var bare = volumeHost.Split('@')[0];
        var onHost = (await h.SendAsync("GET", $"/v3/{P}/os-services?host={bare}")).Body!["services"]!.AsArray();
        Assert.Equal(["cinder-scheduler", "cinder-volume"], onHost.Select(s => s!["binary"]!.GetValue<string>()).Order(StringComparer.Ordinal));
        Assert.Single((await h.SendAsync("GET", $"/v3/{P}/os-services?host={Uri.EscapeDataString(volumeHost)}")).Body!["services"]!.AsArray());
        Assert.Empty((await h.SendAsync("GET", $"/v3/{P}/os-services?host={bare}x")).Body!["services"]!.AsArray());
    }
}
