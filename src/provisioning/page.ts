/*
 * The setup page, served from the firmware: one small HTML document with its style and script,
 * no external resources (the phone has no internet on the setup network). It lists the scanned
 * networks, takes the settings, shows the server's errors next to their fields and follows the
 * attempt (/api/status) until the device has joined, or says why it could not.
 */

export const SETUP_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Sensor setup</title>
<style>
body{font:16px/1.4 system-ui,sans-serif;margin:0;background:#f3f5f7;color:#1d2733}
main{max-width:480px;margin:0 auto;padding:12px 16px 40px}
h1{font-size:1.3em;margin:.4em 0}h2{font-size:1em;margin:1.2em 0 .4em;color:#44536a}
label{display:block;margin:.6em 0 .2em;font-weight:600}
input,select,button{font:inherit;width:100%;box-sizing:border-box;padding:.55em;border:1px solid #aab4c0;border-radius:6px;background:#fff}
button{background:#1a6fd1;color:#fff;border:0;margin-top:1.2em;font-weight:600}
button:disabled{background:#8aa9cf}
.err{display:block;color:#b3261e;font-size:.9em;min-height:0}
.bad{border-color:#b3261e;background:#fff6f5}
#nets{list-style:none;padding:0;margin:0}
#nets li span{color:#5b6b7f;white-space:nowrap;margin-left:.5em}#nets li{display:flex;justify-content:space-between;padding:.5em;border-bottom:1px solid #dde3ea;background:#fff;cursor:pointer}
.msg{padding:.7em;border-radius:6px;margin:1em 0}.ok{background:#e3f4e5;color:#1e5b27}.fail{background:#fde8e6;color:#8c1d18}.busy{background:#e6eefa}
.hint{color:#5b6b7f;font-size:.9em}
</style></head><body><main>
<h1>Sensor setup</h1>
<p class="hint">Device <b id="clientId">&hellip;</b> &middot; firmware <span id="fw"></span></p>
<div id="banner" class="msg" hidden></div>
<form id="f" novalidate>
<h2>WiFi network</h2>
<ul id="nets"><li class="hint">Scanning&hellip;</li></ul>
<label for="ssid">Network name (SSID)</label><input id="ssid" name="ssid" autocomplete="off" maxlength="32"><small class="err" id="err-ssid"></small>
<label for="password">WiFi password</label><input id="password" name="password" type="password" maxlength="64"><small class="err" id="err-password"></small>
<h2>Broker</h2>
<label for="brokerUrl">Broker URL</label><input id="brokerUrl" name="brokerUrl" placeholder="mqtt://host:1883" inputmode="url"><small class="err" id="err-brokerUrl"></small>
<label for="authMode">Authentication</label><select id="authMode" name="authMode"><option value="password">User name and password</option><option value="jwt">JWT (shared secret)</option><option value="none">None</option></select><small class="err" id="err-authMode"></small>
<div data-auth="password jwt"><label for="username">User name</label><input id="username" name="username" placeholder="(the client id)"><small class="err" id="err-username"></small></div>
<div data-auth="password"><label for="mqttPassword">MQTT password</label><input id="mqttPassword" name="mqttPassword" type="password"><small class="err" id="err-mqttPassword"></small></div>
<div data-auth="jwt"><label for="jwtSecret">JWT secret</label><input id="jwtSecret" name="jwtSecret" type="password"><small class="err" id="err-jwtSecret"></small></div>
<h2>Topics</h2>
<label for="homeId">Home id</label><input id="homeId" name="homeId"><small class="err" id="err-homeId"></small>
<label for="deviceId">Device id</label><input id="deviceId" name="deviceId" placeholder="(the client id)"><small class="err" id="err-deviceId"></small>
<label for="tenantId">Tenant id</label><input id="tenantId" name="tenantId"><small class="err" id="err-tenantId"></small>
<h2>Claim (optional)</h2>
<label for="claimCode">Claim code</label><input id="claimCode" name="claimCode" autocomplete="off"><small class="err" id="err-claimCode"></small>
<label for="claimUrl">Claim server</label><input id="claimUrl" name="claimUrl" placeholder="https://backend/claim" inputmode="url"><small class="err" id="err-claimUrl"></small>
<small class="err" id="err-form"></small>
<button id="save" type="submit">Connect</button>
</form></main>
<script>
var $=function(i){return document.getElementById(i)};
var FIELDS=["ssid","password","brokerUrl","authMode","username","mqttPassword","jwtSecret","homeId","deviceId","tenantId","claimCode","claimUrl"];
function get(u,cb){var x=new XMLHttpRequest();x.open("GET",u);x.onload=function(){try{cb(JSON.parse(x.responseText))}catch(e){}};x.send()}
function banner(kind,text){var b=$("banner");b.className="msg "+kind;b.textContent=text;b.hidden=!text}
function clearErrors(){FIELDS.concat("form").forEach(function(n){$("err-"+n).textContent="";var i=$(n);if(i)i.classList.remove("bad")})}
function showErrors(e){for(var n in e){var s=$("err-"+n)||$("err-form");s.textContent=e[n];var i=$(n);if(i)i.classList.add("bad")}}
function auth(){var m=$("authMode").value;document.querySelectorAll("[data-auth]").forEach(function(d){d.hidden=d.getAttribute("data-auth").split(" ").indexOf(m)<0})}
function bars(r){var b="\\u2582\\u2584\\u2586\\u2588";return b.slice(0,r>=-55?4:r>=-67?3:r>=-78?2:1)}
function nets(list){var u=$("nets");u.innerHTML="";if(!list.length){u.innerHTML='<li class="hint">Scanning&hellip;</li>';return}
list.forEach(function(n){var li=document.createElement("li");li.textContent=n.ssid;var s=document.createElement("span");s.textContent=(n.secure?"secured ":"open ")+bars(n.rssi)+" "+n.rssi+" dBm";li.appendChild(s);li.onclick=function(){$("ssid").value=n.ssid;$("password").focus()};u.appendChild(li)})}
function check(v){var e={};if(!v.ssid)e.ssid="required: the network to join";
if(v.password&&(v.password.length<8||v.password.length>63))e.password="must be empty (an open network) or 8 to 63 characters";
if(v.brokerUrl&&!/^mqtts?:\\/\\/[^\\/:\\s]+(:\\d{1,5})?\\/?$/.test(v.brokerUrl))e.brokerUrl="must be mqtt://host:port or mqtts://host:port";
return e}
function poll(){get("/api/status",function(s){
if(s.state==="joining"||s.state==="claiming"){banner("busy",s.message);setTimeout(poll,600);return}
$("save").disabled=false;
if(s.state==="failed"){banner("fail",s.message);if(s.field){var e={};e[s.field]=s.message;showErrors(e)}}
else if(s.state==="done")banner("ok",s.message)})}
$("authMode").onchange=auth;
$("f").onsubmit=function(ev){ev.preventDefault();clearErrors();banner("","");var v={};
FIELDS.forEach(function(n){var i=$(n);if(i&&!(i.closest("[data-auth]")&&i.closest("[data-auth]").hidden))v[n]=i.value});
var e=check(v);if(Object.keys(e).length){showErrors(e);return}
$("save").disabled=true;var x=new XMLHttpRequest();x.open("POST","/api/setup");x.setRequestHeader("Content-Type","application/json");
x.onload=function(){var r={};try{r=JSON.parse(x.responseText)}catch(er){}
if(x.status===202){banner("busy",r.message||"Trying...");setTimeout(poll,400)}else{$("save").disabled=false;showErrors(r.errors||{form:"HTTP "+x.status})}};
x.onerror=function(){$("save").disabled=false;banner("fail","The sensor did not answer: reconnect to its network and try again")};
x.send(JSON.stringify(v))};
get("/api/info",function(i){$("clientId").textContent=i.clientId;$("fw").textContent=i.firmwareVersion;
for(var n in i.values){if($(n))$(n).value=i.values[n]}
(i.secretsSet||[]).forEach(function(n){if($(n))$(n).placeholder="(unchanged)"});auth()});
function scan(){get("/api/networks",function(r){nets(r.networks);if(r.scanning||!r.networks.length)setTimeout(scan,2500)})}
scan();
</script></body></html>`;
